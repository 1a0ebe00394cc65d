//! anvil with the protocol deployed, for the tests that drive the publisher against a chain.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::{Address, Bytes};
use gridproof_api::chain::{Anvil, Chain, VaultParams, ANVIL_DEV_PRIVATE_KEY};
use gridproof_api::publisher::PublisherConfig;

/// The Foundry project (its node_modules hold anvil).
pub fn contracts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../verifier-contract")
}

/// anvil with the protocol deployed by its first account (admin and registrar of the oracle).
pub struct TestChain {
    pub anvil: Anvil,
    pub deployer: Chain,
    pub oracle: Address,
}

impl TestChain {
    /// Starts anvil and deploys the protocol with `verifier_code` as its Groth16 verifier.
    pub async fn start(verifier_code: Bytes) -> TestChain {
        let anvil =
            Anvil::start(&contracts_dir()).expect("anvil from verifier-contract/node_modules");
        let deployer = Chain::connect(&anvil.endpoint(), ANVIL_DEV_PRIVATE_KEY)
            .await
            .unwrap();
        let d = deployer
            .deploy(verifier_code, &VaultParams::default())
            .await
            .unwrap();
        TestChain {
            anvil,
            deployer,
            oracle: d.oracle,
        }
    }

    /// A publisher on this chain: one confirmation, polled every 100 ms.
    pub fn config(&self) -> PublisherConfig {
        let mut c = PublisherConfig::new(self.anvil.endpoint(), ANVIL_DEV_PRIVATE_KEY, self.oracle);
        c.confirmations = 1;
        c.poll_interval = Duration::from_millis(100);
        c
    }
}
