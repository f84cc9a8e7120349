//! The `neurons` command: parse the arguments, run, and turn any error into one line and an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    neurons::runtime::start_clock();
    neurons::runtime::tune_allocator();
    let cli = match neurons::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => match neurons::cli::usage_line(&err) {
            Some(line) => {
                eprintln!("{line}");
                return ExitCode::from(neurons::error::EXIT_USAGE);
            }
            None => err.exit(), // --help, --version
        },
    };
    match neurons::cli::run(cli) {
        Ok(()) => ExitCode::from(neurons::error::EXIT_OK),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(neurons::error::exit_code(&err))
        }
    }
}
