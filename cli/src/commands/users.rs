//! `outpost users add|list|remove|passwd`: the system users stored in a
//! hub's database, which `outpost serve` lets in (see
//! [`outpost_core::hub::SystemUsers`]).

use outpost_core::hub::{Role, SystemUsers};

use super::{open_db, open_existing_db, password};
use crate::args::{UserDbArgs, UsersCommand};
use crate::error::CliError;
use crate::output::print_line;

/// Runs one `users` command.
pub fn run(command: &UsersCommand) -> Result<(), CliError> {
    match command {
        UsersCommand::Add(args) => {
            let role: Role = args.role.parse().map_err(|e| CliError::core("reading --role", e))?;
            let user = &args.user;
            let users = open(&user.db, true)?;
            let password = password::read_new(user.password_stdin, &user.name)?;
            users
                .add(&user.name, &password, role)
                .map_err(|e| CliError::core(format!("adding the user {:?}", user.name), e))?;
            Ok(())
        }
        UsersCommand::List(args) => {
            for user in open(args, false)?
                .list()
                .map_err(|e| CliError::core("listing users", e))?
            {
                let line = serde_json::json!({
                    "name": user.name,
                    "role": user.role.as_str(),
                    "created": user.created,
                    "last_login": user.last_login,
                });
                print_line(&line.to_string())?;
            }
            Ok(())
        }
        UsersCommand::Remove(args) => {
            let removed = open(&args.db, false)?
                .remove(&args.name)
                .map_err(|e| CliError::core(format!("removing the user {:?}", args.name), e))?;
            if !removed {
                return Err(CliError::Usage(format!("there is no user {:?}", args.name)));
            }
            Ok(())
        }
        UsersCommand::Passwd(args) => {
            let users = open(&args.db, false)?;
            if !users
                .list()
                .map_err(|e| CliError::core("listing users", e))?
                .iter()
                .any(|u| u.name == args.name)
            {
                return Err(CliError::Usage(format!("there is no user {:?}", args.name)));
            }
            let password = password::read_new(args.password_stdin, &args.name)?;
            users
                .set_password(&args.name, &password)
                .map_err(|e| CliError::core(format!("changing the password of {:?}", args.name), e))?;
            Ok(())
        }
    }
}

/// The system users of the database at `--db`, created if missing only
/// when `create` (for `add`).
fn open(args: &UserDbArgs, create: bool) -> Result<SystemUsers, CliError> {
    let db = if create {
        open_db(&args.db)?
    } else {
        open_existing_db(&args.db)?
    };
    SystemUsers::open(&db).map_err(|e| CliError::core(format!("opening the users of {}", args.db.display()), e))
}
