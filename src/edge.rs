//! The top of every binary: runs its body, prints an error as one line, and exits with the code
//! it means. A closed stdout and a panic are decided here, once for every binary.

use crate::exit::SUCCESS;

/// Runs a binary's body and exits with the code its outcome means.
///
/// Errors print as one line, `Error: <sentence>`, on stderr, and exit with the code the error
/// means. Our output closing under us (`producer | head`) is a normal end, here and only here,
/// as ripgrep does it. A panic is a bug of ours: an internal error (1), never "interrupted".
pub fn run_main(body: impl FnOnce() -> crate::Result<i32>) -> ! {
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|panic| {
            Err(crate::Error::Internal {
                what: String::from("the main thread"),
                message: crate::fanout::panic_message(panic.as_ref()),
            })
        });
    let code = match outcome {
        Ok(code) => code,
        Err(err) if err.is_broken_pipe() => SUCCESS,
        Err(err) => {
            let label = crate::color::stderr(crate::color::Paint::Error, "Error:");
            eprintln!("{label} {err}");
            err.exit_code()
        }
    };
    std::process::exit(code)
}
