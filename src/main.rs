//! The `neurons` command: parse the arguments, run, and turn any error into one line and an exit code.

use std::process::ExitCode;

use clap::Parser;

/// Exit code of a bug: a panic that escaped every check (BSD's `EX_SOFTWARE`).
const EXIT_INTERNAL: i32 = 70;

/// The last line of defence: a panic becomes one `error:` line asking for a report, exit 70; the
/// backtrace only with `RUST_BACKTRACE=1`.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = message.replace('\n', " ");
        eprintln!(
            "error: internal error: {message}{place}; please report it with the command line"
        );
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
        std::process::exit(EXIT_INTERNAL);
    }));
}

fn main() -> ExitCode {
    install_panic_hook();
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
