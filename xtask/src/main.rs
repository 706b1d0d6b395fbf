//! `cargo run -p xtask -- assets [--out DIR]`: writes the man page and shell completions
//! (default `target/assets`), as `packaging/build-deb` does before cargo-deb packs them.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["assets"] => PathBuf::from("target/assets"),
        ["assets", "--out", dir] => PathBuf::from(dir),
        _ => {
            eprintln!("usage: xtask assets [--out DIR]");
            return ExitCode::from(2);
        }
    };
    match xtask::write_assets(&out) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
