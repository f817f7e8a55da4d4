//! etcdctl's password prompt (speakeasy's): "Password: " on stdout, the terminal's echo off
//! while the line is read, a newline after. On a stdin that is not a terminal etcdctl's `stty`
//! complains on stderr as it turns echo off and on again; the same two lines are printed here.

use std::io::{BufRead, Write};

/// What Debian's stty says when stdin is not a terminal.
const NOT_A_TERMINAL: &str = "stty: 'standard input': Inappropriate ioctl for device";

/// The terminal's settings while echo is off; restored when dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    // termios has no safe wrapper in the crates linked here; two calls on fd 0.
    #[allow(unsafe_code)]
    fn new() -> EchoOff {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a termios this function owns.
        unsafe {
            let mut settings: libc::termios = std::mem::zeroed();
            if libc::isatty(0) == 0 || libc::tcgetattr(0, &mut settings) != 0 {
                eprintln!("{NOT_A_TERMINAL}");
                return EchoOff(None);
            }
            let saved = settings;
            settings.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &settings);
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        match &self.0 {
            // SAFETY: restores the settings read in `new` on the same fd.
            Some(saved) => unsafe {
                libc::tcsetattr(0, libc::TCSANOW, saved);
            },
            None => eprintln!("{NOT_A_TERMINAL}"),
        }
    }
}

/// Asks for a password as etcdctl's `--user name` without `:password` does.
pub fn ask_password() -> std::io::Result<String> {
    ask("Password: ")
}

/// Asks for a secret after `prompt`, echo off.
pub fn ask(prompt: &str) -> std::io::Result<String> {
    let mut out = std::io::stdout();
    write!(out, "{prompt}")?;
    out.flush()?;
    let mut line = String::new();
    let read = {
        let _echo_off = EchoOff::new();
        std::io::stdin().lock().read_line(&mut line)
    };
    writeln!(out)?;
    read?; // at the end of input the password is empty, as etcdctl's
    Ok(line.trim().to_string())
}
