//! One module per subcommand; each returns the process exit code or an error (exit 2).

/// `println!` for a human-readable line that carries names, ids or messages from the ledger or
/// the data: control, bidi and zero-width characters are made visible through
/// [`bezoar_report::escape_invisible`], so a name cannot forge a line or drive the terminal.
/// (JSON output is printed with `println!`: serde escapes controls, and machines read it.)
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", bezoar_report::escape_invisible(&format!($($arg)*)))
    };
}

/// `eprintln!` with the same escaping as [`say!`].
macro_rules! warn {
    ($($arg:tt)*) => {
        eprintln!("{}", bezoar_report::escape_invisible(&format!($($arg)*)))
    };
}

pub mod bench;
pub mod eval;
pub mod governance;
pub mod identity;
pub mod inject;
pub mod ledger;
pub mod log;
pub mod probe;
pub mod quality;
pub mod scan;
pub mod signing;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Nothing at or above the `--fail-on` policy.
pub const EXIT_CLEAN: u8 = 0;
/// At least one finding at or above the `--fail-on` policy.
pub const EXIT_FINDINGS: u8 = 1;
/// Bad input or usage (clap uses 2 for usage errors too).
pub const EXIT_BAD_INPUT: u8 = 2;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => scan::run(&args),
        Command::Init(args) => ledger::init(&args),
        Command::Add(args) => ledger::add(&args),
        Command::Log(args) => log::run(&args),
        Command::Verify(args) => ledger::verify(&args),
        Command::Diff(args) => ledger::diff(&args),
        Command::Checkout(args) => ledger::checkout(&args),
        Command::Quarantine(args) => ledger::quarantine(&args),
        Command::Keygen(args) => signing::keygen(&args),
        Command::Sign(args) => signing::sign(&args),
        Command::VerifySignature(args) => signing::verify_signature(&args),
        Command::Inject(args) => inject::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Quality(args) => quality::run(&args),
        Command::Identity(args) => identity::run(&args),
        Command::Grant(args) => identity::grant(&args),
        Command::Policy(args) => governance::policy(&args),
        Command::Approve(args) => governance::approve(&args),
        Command::Gate(args) => governance::gate(&args),
        Command::Bom(args) => governance::bom(&args),
        Command::Probe(args) => probe::run(&args),
        Command::Promote(args) => probe::promote(&args),
    }
}

/// `1 row`, `2 rows`: a count with its noun in the right number.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// [`plural`] for nouns that take an `s`.
pub(crate) fn count(n: impl TryInto<usize>, noun: &str) -> String {
    let n = n.try_into().unwrap_or(usize::MAX);
    plural(n, noun, &format!("{noun}s"))
}

/// The library's attack for an `--attack` value, with default settings.
/// The text-classification attack an `--attack` value names; `None` for an attack on LLM data.
pub fn attack_of(a: crate::cli::AttackArg) -> Option<bezoar_redteam::Attack> {
    use crate::cli::AttackArg;
    let name = match a {
        AttackArg::Badnets => "badnets",
        AttackArg::Addsent => "addsent",
        AttackArg::Invisible => "invisible",
        AttackArg::LabelFlip => "label-flip",
        AttackArg::DuplicateFlood => "duplicate-flood",
        AttackArg::Junk => "junk",
        _ => return None,
    };
    bezoar_redteam::Attack::from_name(name)
}

/// The error and its causes on one line (`a: b: c`), leaving out a cause whose text the message
/// already contains (library errors often embed their source's text).
pub fn error_message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        // Causes quote names and values from the data: escaped like every human-readable line.
        let text = bezoar_report::escape_invisible(&cause.to_string());
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_skips_repeated_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(io).context("x.jsonl: no such file");
        assert_eq!(error_message(&e), "x.jsonl: no such file");
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = anyhow::Error::new(io).context("cannot create out.csv");
        assert_eq!(error_message(&e), "cannot create out.csv: denied");
    }
}
