-- Audit heads on-chain (docs/audit-log.md, "On-chain heads"): the publisher also anchors the
-- audit log's signed tree head on RevenueOracle (`publishAuditHead`), as rows of `publications`
-- with the same transaction life (built -> sent -> mined -> confirmed, or failed). Such a row
-- (kind `audit_head`) has no epoch and no batch; its subject is the tree size it publishes
-- (`audit_tree_size`), one row per size.
ALTER TABLE publications ALTER COLUMN epoch DROP NOT NULL;
ALTER TABLE publications ADD COLUMN audit_tree_size BIGINT CHECK (audit_tree_size > 0);
ALTER TABLE publications DROP CONSTRAINT publications_kind_check;
ALTER TABLE publications ADD CONSTRAINT publications_kind_check
    CHECK (kind IN ('open_epoch', 'submit_batch', 'audit_head'));
-- Was CHECK ((kind = 'open_epoch') = (batch_index IS NULL)) (named by PostgreSQL).
ALTER TABLE publications DROP CONSTRAINT publications_check;
ALTER TABLE publications ADD CONSTRAINT publications_batch_subject
    CHECK ((kind = 'submit_batch') = (batch_index IS NOT NULL));
ALTER TABLE publications ADD CONSTRAINT publications_audit_head_subject
    CHECK ((kind = 'audit_head') = (audit_tree_size IS NOT NULL)
           AND (kind = 'audit_head') = (epoch IS NULL));
CREATE UNIQUE INDEX publications_audit_head ON publications (audit_tree_size)
    WHERE kind = 'audit_head';
