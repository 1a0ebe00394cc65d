//! `gridproof token create`: makes an API token in the store of `DATABASE_URL` and prints its
//! secret once (the store keeps only its SHA-256). An operator token acts for its operator, a
//! regulator token for its registered regulator (the binding that `POST /v1/regulators` makes
//! for the first token); the creation is appended to the audit log with the token.

use clap::{Args, Subcommand, ValueEnum};

use super::serve::{runtime, ServiceError};
use super::CliError;
use crate::store::{RegulatorId, Role, Store, StoreError, StoreOptions, TokenId};

/// `gridproof token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print its secret (shown once: the database keeps only its hash).
    Create(CreateArgs),
}

/// The role of a new token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Opens and closes epochs.
    Admin,
    /// Registers its operator's installations and submits their readings (needs --operator).
    Operator,
    /// Requests disclosures for its regulator (needs --regulator); reads installations.
    Regulator,
    /// Reads epochs, proofs and calldata.
    Protocol,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Operator => Role::Operator,
            RoleArg::Regulator => Role::Regulator,
            RoleArg::Protocol => Role::Protocol,
        }
    }
}

/// Options of `gridproof token create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// What the token may do.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// The operator an operator token acts for (created if new); only with --role operator.
    #[arg(long)]
    pub operator: Option<String>,
    /// The registered regulator a regulator token acts for: the `id` that `POST
    /// /v1/regulators` returned (it must exist); only with --role regulator.
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
    pub regulator: Option<i64>,
    /// Who holds the token (free text, kept with it).
    #[arg(long, default_value = "")]
    pub label: String,
    /// The store: `postgres://...`, `sqlite://PATH` or a file path.
    #[arg(long, env = "DATABASE_URL", default_value = crate::store::DEFAULT_SQLITE_PATH)]
    pub database_url: String,
}

/// Runs a `token` subcommand.
pub fn run(command: TokenCommand) -> Result<(), CliError> {
    match command {
        TokenCommand::Create(args) => {
            let rt = runtime()?;
            let secret = rt.block_on(create(&args))?;
            // The secret alone on stdout (scripts capture it); the rest on stderr.
            println!("{secret}");
            Ok(())
        }
    }
}

/// Checks that --operator comes exactly with --role operator and --regulator exactly with
/// --role regulator (before the store is opened).
fn check_binding(role: Role, args: &CreateArgs) -> Result<(), ServiceError> {
    if (role == Role::Operator) != args.operator.is_some() {
        return Err(ServiceError::Usage(if role == Role::Operator {
            "--role operator needs --operator NAME".into()
        } else {
            format!("--operator is only for --role operator, not {role}")
        }));
    }
    if (role == Role::Regulator) != args.regulator.is_some() {
        return Err(ServiceError::Usage(if role == Role::Regulator {
            "--role regulator needs --regulator ID, the id of a registered regulator (POST \
             /v1/regulators registers one and returns it): a regulator token bound to no \
             regulator could request nothing"
                .into()
        } else {
            format!("--regulator is only for --role regulator, not {role}")
        }));
    }
    Ok(())
}

async fn create(args: &CreateArgs) -> Result<String, ServiceError> {
    let role = Role::from(args.role);
    check_binding(role, args)?;
    let store = Store::open(&args.database_url, &StoreOptions::default()).await?;
    let made = create_in(&store, role, args).await;
    store.close().await;
    let (id, secret, holder) = made?;
    eprintln!(
        "created {role} token {}{holder}; its secret is printed once below and cannot be shown \
         again",
        id.0
    );
    Ok(secret)
}

/// Makes the token in `store`; returns its id, its secret and whom it acts for (for the
/// message).
async fn create_in(
    store: &Store,
    role: Role,
    args: &CreateArgs,
) -> Result<(TokenId, String, String), ServiceError> {
    if let Some(id) = args.regulator {
        let (regulator, id, secret) = store
            .create_regulator_token(None, RegulatorId(id), &args.label)
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => ServiceError::Usage(format!(
                    "--regulator {id}: no regulator {id} is registered in this store (POST \
                     /v1/regulators registers one; GET /v1/regulators lists them)"
                )),
                e => e.into(),
            })?;
        let holder = format!(" for regulator {} ({:?})", regulator.id.0, regulator.name);
        return Ok((id, secret, holder));
    }
    let operator = match &args.operator {
        Some(name) => Some(store.ensure_operator(name).await?),
        None => None,
    };
    let (id, secret) = store.create_token(role, operator, &args.label).await?;
    let holder = args
        .operator
        .as_deref()
        .map(|o| format!(" for operator {o:?}"))
        .unwrap_or_default();
    Ok((id, secret, holder))
}
