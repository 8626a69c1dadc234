//! The top of every binary: runs its body, prints an error as one line, and exits with the code
//! it means. A closed stdout and a panic are decided here, once for every binary.

use crate::exit::{FAILURE, SUCCESS};

/// Runs a binary's body and exits with the code its outcome means.
///
/// Errors print as one line, `Error: <sentence>`, on stderr. An [`anyhow::Error`] that wraps a
/// [`crate::Error`] keeps that error's code; anything else is a plain failure (1). Our output
/// closing under us (`producer | head`) is a normal end, here and only here, as ripgrep does it.
/// A panic is a bug of ours: an internal error (1), never "interrupted".
pub fn run_main(body: impl FnOnce() -> anyhow::Result<i32>) -> ! {
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|panic| {
            Err(crate::Error::Internal {
                what: String::from("the main thread"),
                message: crate::fanout::panic_message(panic.as_ref()),
            }
            .into())
        });
    let code = match outcome {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => SUCCESS,
        Err(err) => {
            let code = err
                .downcast_ref::<crate::Error>()
                .map_or(FAILURE, crate::Error::exit_code);
            eprintln!("Error: {err:#}");
            code
        }
    };
    std::process::exit(code)
}

/// Whether `err` is our stdout closing under us, however it was wrapped.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<crate::Error>()
            .is_some_and(crate::Error::is_broken_pipe)
            || cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
