//! `gridproof token create`: makes an API token in the store of `DATABASE_URL` and prints its
//! secret once (the store keeps only its SHA-256).

use clap::{Args, Subcommand, ValueEnum};

use super::serve::{runtime, ServiceError};
use super::CliError;
use crate::store::{Role, Store, StoreOptions};

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
    /// Requests disclosures; reads installations.
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

async fn create(args: &CreateArgs) -> Result<String, ServiceError> {
    let role = Role::from(args.role);
    if (role == Role::Operator) != args.operator.is_some() {
        return Err(ServiceError::Usage(if role == Role::Operator {
            "--role operator needs --operator NAME".into()
        } else {
            format!("--operator is only for --role operator, not {role}")
        }));
    }
    let store = Store::open(&args.database_url, &StoreOptions::default()).await?;
    let operator = match &args.operator {
        Some(name) => Some(store.ensure_operator(name).await?),
        None => None,
    };
    let (id, secret) = store.create_token(role, operator, &args.label).await?;
    store.close().await;
    eprintln!(
        "created {role} token {}{}; its secret is printed once below and cannot be shown again",
        id.0,
        args.operator
            .as_deref()
            .map(|o| format!(" for operator {o:?}"))
            .unwrap_or_default()
    );
    Ok(secret)
}
