//! The release as `packaging/release` makes it, checked as a miner (and a second builder) would:
//! the same tree built again, in another checkout path with its own target dir, gives a
//! byte-identical amd64 .deb and tarball; `sha256sum -c` passes; gpgv and sqv accept `SHA256SUMS.asc` and the
//! repository's `InRelease` with the shipped keyring and refuse a copy with one byte changed;
//! apt itself reads the repository (both architectures) through `Signed-By:`; each binary is
//! static for its architecture with no build path in it; and the tarball's `install.sh`
//! installs into a clean root and `--uninstall` leaves nothing behind.
//!
//! The throwaway signing key is made here with gpg. Needs cargo-deb, musl-tools,
//! gcc-aarch64-linux-gnu, gpg, gpgv, sqv, apt-utils and systemd's sysusers: `scripts/test`
//! installs them. The install.sh test needs root (a system user, a chown), as CI runs.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

const NAME: &str = "gittensor-miner-agent";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Everything this test makes: target/release-test/.
fn work() -> PathBuf {
    repo().join("target/release-test")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn run(cmd: &mut Command) -> String {
    let out = output(cmd);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed ({}):\n{all}", out.status);
    text(&out.stdout)
}

fn require(tools: &[&str]) {
    for tool in tools {
        let found = output(Command::new("sh").arg("-c").arg(format!("command -v {tool}"))).status.success();
        assert!(found, "{tool} is missing: run scripts/test (it installs what tests/release.rs needs)");
    }
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// (Debian architecture, the tarball's machine name, readelf's machine).
const ARCHES: [(&str, &str, &str); 2] =
    [("amd64", "x86_64", "Advanced Micro Devices X86-64"), ("arm64", "aarch64", "AArch64")];

fn deb_name(arch: &str) -> String {
    format!("{NAME}_{}-1_{arch}.deb", version())
}

fn tarball_name(machine: &str) -> String {
    format!("{NAME}-{}-{machine}-linux.tar.gz", version())
}

/// A throwaway signing key (ed25519, no passphrase) in an armored secret-key file, and the
/// public half alone in another.
fn keys() -> &'static (PathBuf, PathBuf) {
    static KEYS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    KEYS.get_or_init(|| {
        require(&["gpg"]);
        let dir = work().join("key");
        let _ = std::fs::remove_dir_all(&dir);
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        let gpg = |args: &[&str]| run(Command::new("gpg").env("GNUPGHOME", &home).arg("--batch").args(args));
        gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            "release test <release-test@example.invalid>",
            "ed25519",
            "sign",
            "1y",
        ]);
        let secret = dir.join("secret.asc");
        let public = dir.join("public.asc");
        std::fs::write(&secret, gpg(&["--armor", "--export-secret-keys"])).unwrap();
        std::fs::write(&public, gpg(&["--armor", "--export"])).unwrap();
        let _ = output(Command::new("gpgconf").env("GNUPGHOME", &home).args(["--kill", "gpg-agent"]));
        (secret, public)
    })
}

/// The release of this checkout: `packaging/release` run as a user runs it (both architectures,
/// SOURCE_DATE_EPOCH from the commit, the repo's own target dir).
fn release() -> &'static Path {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    DIST.get_or_init(|| {
        require(&["cargo-deb", "musl-gcc", "aarch64-linux-gnu-gcc", "apt-ftparchive", "dpkg-deb", "readelf"]);
        let out = work().join("dist");
        let started = Instant::now();
        run(Command::new(repo().join("packaging/release"))
            .arg("--signing-key")
            .arg(&keys().0)
            .arg("--out")
            .arg(&out)
            .env_remove("SOURCE_DATE_EPOCH"));
        eprintln!("release: both architectures built and packed in {:.0} s", started.elapsed().as_secs_f64());
        out
    })
}

#[test]
fn without_a_usable_signing_key_the_release_refuses_and_says_how_to_make_one() {
    let script = repo().join("packaging/release");
    let missing = work().join("no-such-key.asc");
    for args in [vec![], vec!["--signing-key".into(), missing.display().to_string()]] {
        let out = output(Command::new(&script).args(&args));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("gpg --batch --passphrase '' --quick-gen-key"), "{args:?}: {err}");
        assert!(err.contains("gpg --export-secret-keys --armor"), "{args:?}: {err}");
    }
    // A public key cannot sign.
    let out = output(Command::new(&script).arg("--signing-key").arg(&keys().1));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("holds no secret key"), "{err}");
    assert!(!work().join("dist-refused").exists());
}

#[test]
fn the_folder_holds_what_issue_17_names_and_checksums_and_signatures_verify_and_catch_a_changed_byte() {
    require(&["gpgv", "sqv", "sha256sum"]);
    let dist = release();
    let mut top: Vec<String> =
        std::fs::read_dir(dist).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    top.sort();
    let mut expected = vec![
        deb_name("amd64"),
        deb_name("arm64"),
        "SHA256SUMS".to_string(),
        "SHA256SUMS.asc".to_string(),
        "apt".to_string(),
        tarball_name("aarch64"),
        tarball_name("x86_64"),
    ];
    expected.sort();
    assert_eq!(top, expected);

    // sha256sum -c from inside the folder: every .deb and tarball, nothing else.
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    let mut listed: Vec<&str> = sums.lines().map(|l| l.split_once("  ").unwrap().1).collect();
    listed.sort();
    let mut files: Vec<&str> =
        expected.iter().map(String::as_str).filter(|f| f.ends_with(".deb") || f.ends_with(".tar.gz")).collect();
    files.sort();
    assert_eq!(listed, files);
    run(Command::new("sha256sum").arg("-c").arg("--strict").arg("SHA256SUMS").current_dir(dist));

    let keyring = dist.join("apt/gittensor-miner-agent-archive-keyring.gpg");
    // A binary keyring (what Signed-By: takes), not an armored one.
    let head = std::fs::read(&keyring).unwrap();
    assert!(!head.starts_with(b"-----BEGIN"), "the keyring is armored");
    let tamper = work().join("tampered");
    std::fs::create_dir_all(&tamper).unwrap();
    let changed = |from: &Path, name: &str| -> PathBuf {
        let mut bytes = std::fs::read(from).unwrap();
        // One byte of signed text: the first digit of the file's first checksum / Date line.
        let at = bytes.iter().position(|b| b.is_ascii_digit()).unwrap();
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        let to = tamper.join(name);
        std::fs::write(&to, bytes).unwrap();
        to
    };
    let gpgv = |sig: &Path, data: Option<&Path>| {
        let mut cmd = Command::new("gpgv");
        cmd.arg("--keyring").arg(&keyring).arg(sig);
        if let Some(data) = data {
            cmd.arg(data);
        }
        output(&mut cmd)
    };
    let sqv = |sig: &Path, data: &Path| output(Command::new("sqv").arg("--keyring").arg(&keyring).arg(sig).arg(data));

    let asc = dist.join("SHA256SUMS.asc");
    assert!(std::fs::read_to_string(&asc).unwrap().starts_with("-----BEGIN PGP SIGNATURE-----"));
    let sums_path = dist.join("SHA256SUMS");
    assert!(gpgv(&asc, Some(&sums_path)).status.success(), "{}", text(&gpgv(&asc, Some(&sums_path)).stderr));
    assert!(sqv(&asc, &sums_path).status.success(), "{}", text(&sqv(&asc, &sums_path).stderr));
    let bad_sums = changed(&sums_path, "SHA256SUMS");
    assert!(!gpgv(&asc, Some(&bad_sums)).status.success(), "gpgv accepted a changed SHA256SUMS");
    assert!(!sqv(&asc, &bad_sums).status.success(), "sqv accepted a changed SHA256SUMS");

    let suite = dist.join("apt/dists/stable");
    let in_release = suite.join("InRelease");
    assert!(gpgv(&in_release, None).status.success(), "{}", text(&gpgv(&in_release, None).stderr));
    assert!(!gpgv(&changed(&in_release, "InRelease"), None).status.success(), "gpgv accepted a changed InRelease");
    let (release_file, release_sig) = (suite.join("Release"), suite.join("Release.gpg"));
    assert!(sqv(&release_sig, &release_file).status.success(), "{}", text(&sqv(&release_sig, &release_file).stderr));
    assert!(!sqv(&release_sig, &changed(&release_file, "Release")).status.success(), "sqv accepted a changed Release");
    // The signed Release is the one apt reads: suite, component, both architectures.
    let release_text = std::fs::read_to_string(&release_file).unwrap();
    for line in ["Suite: stable", "Codename: stable", "Components: main", "Architectures: amd64 arm64"] {
        assert!(release_text.lines().any(|l| l == line), "Release lacks {line:?}:\n{release_text}");
    }
    // lintian finds no error in the amd64 package built from the static binary, nor in the keyring's.
    require(&["lintian"]);
    let keyring_deb = std::fs::read_dir(dist.join("apt/pool/main"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("gittensor-miner-agent-archive-keyring_"))
        .expect("no keyring package in the pool");
    run(Command::new("lintian").args(["--fail-on", "error"]).arg(dist.join(deb_name("amd64"))).arg(&keyring_deb));
    let sources = std::fs::read_to_string(dist.join("apt/gittensor-miner-agent.sources")).unwrap();
    assert!(
        sources.contains("Signed-By: /usr/share/keyrings/gittensor-miner-agent-archive-keyring.gpg\n"),
        "{sources}"
    );
}

/// apt (`tool`: apt-get, apt-cache) with its whole state in `root`, for amd64 and arm64.
fn apt(root: &Path, tool: &str) -> Command {
    let mut cmd = Command::new(tool);
    for (key, dir) in
        [("Dir::Etc", "etc"), ("Dir::State", "state"), ("Dir::Cache", "cache"), ("Dir::State::status", "state/status")]
    {
        cmd.arg("-o").arg(format!("{key}={}", root.join(dir).display()));
    }
    cmd.args(["-o", "APT::Architecture=amd64", "-o", "APT::Architectures::=amd64", "-o", "APT::Architectures::=arm64"]);
    // No sandbox user (the files belong to whoever runs the test) and no lock of the system's.
    cmd.args(["-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=1"]);
    cmd
}

/// apt itself, as an unprivileged client of a file: copy of the repository: `apt-get update`
/// verifies InRelease against the keyring named by Signed-By:, and both architectures offer
/// the agent and the keyring package. A changed Packages file is refused.
#[test]
fn apt_reads_the_signed_repository_for_both_architectures_and_refuses_a_changed_index() {
    require(&["apt-get", "apt-cache"]);
    let dist = release();
    let keyring = dist.join("apt/gittensor-miner-agent-archive-keyring.gpg");
    let apt_run = |name: &str, repo_dir: &Path| -> (Output, PathBuf) {
        let root = work().join(format!("apt-client-{name}"));
        let _ = std::fs::remove_dir_all(&root);
        for d in ["etc/sources.list.d", "etc/preferences.d", "state/lists/partial", "cache/archives/partial"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("state/status"), b"").unwrap();
        let sources = format!(
            "Types: deb\nURIs: file:{}\nSuites: stable\nComponents: main\nSigned-By: {}\n",
            repo_dir.display(),
            keyring.display()
        );
        std::fs::write(root.join("etc/sources.list.d/gittensor-miner-agent.sources"), sources).unwrap();
        let out = output(apt(&root, "apt-get").arg("update"));
        (out, root)
    };
    let (out, root) = apt_run("good", &dist.join("apt"));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success() && !all.contains("W:") && !all.contains("E:"), "apt-get update:\n{all}");
    let mut policy = apt(&root, "apt-cache");
    policy.args(["madison", NAME, &format!("{NAME}:arm64"), "gittensor-miner-agent-archive-keyring"]);
    let madison = run(&mut policy);
    let want_version = format!("{}-1", version());
    for arch in ["amd64", "arm64"] {
        assert!(
            madison.lines().any(|l| l.contains(&want_version) && l.contains(&format!("stable/main {arch} Packages"))),
            "apt offers no {NAME} {want_version} for {arch}:\n{madison}"
        );
    }
    assert!(madison.contains("gittensor-miner-agent-archive-keyring |"), "no keyring package:\n{madison}");

    // The same repository with one byte of an index changed: apt refuses it (hash mismatch).
    let bad = work().join("apt-tampered");
    let _ = std::fs::remove_dir_all(&bad);
    run(Command::new("cp").arg("-a").arg(dist.join("apt")).arg(&bad));
    let packages = bad.join("dists/stable/main/binary-amd64/Packages");
    let mut bytes = std::fs::read(&packages).unwrap();
    let at = text(&bytes).find("Version: ").unwrap() + "Version: ".len();
    bytes[at] = if bytes[at] == b'9' { b'8' } else { b'9' };
    std::fs::write(&packages, bytes).unwrap();
    let _ = std::fs::remove_file(bad.join("dists/stable/main/binary-amd64/Packages.gz"));
    let (out, _) = apt_run("tampered", &bad);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !out.status.success() || all.contains("E:") || all.contains("W:"),
        "apt took a changed Packages file:\n{all}"
    );
    assert!(all.contains("Hash Sum mismatch") || all.contains("File has unexpected size"), "apt-get update:\n{all}");
}

/// Each binary is a static executable for its machine: no program interpreter, no shared
/// library; no path of this checkout, its target dir or cargo's home is in it.
#[test]
fn each_binary_is_static_for_its_architecture_with_no_build_path_in_it() {
    let dist = release();
    let unpacked = work().join("unpacked");
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked).unwrap();
    let cargo_home =
        std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap()));
    for (_, machine, elf_machine) in ARCHES {
        run(Command::new("tar").arg("-xzf").arg(dist.join(tarball_name(machine))).arg("-C").arg(&unpacked));
        let bin = unpacked.join(format!("{NAME}-{}-{machine}-linux/files/usr/bin/{NAME}", version()));
        let header = run(Command::new("readelf").arg("-hW").arg(&bin));
        assert!(header.contains(elf_machine), "{} is not for {machine}:\n{header}", bin.display());
        let programs = run(Command::new("readelf").arg("-lW").arg(&bin));
        assert!(!programs.contains("INTERP"), "{machine}: has a program interpreter:\n{programs}");
        let dynamic = run(Command::new("readelf").arg("-dW").arg(&bin));
        assert!(!dynamic.contains("(NEEDED)"), "{machine}: needs shared libraries:\n{dynamic}");
        let size = std::fs::metadata(&bin).unwrap().len();
        assert!(size <= 8 << 20, "{machine}: {size} bytes, over 8 MiB");
        let bytes = std::fs::read(&bin).unwrap();
        for path in [repo().display().to_string(), cargo_home.clone()] {
            assert!(
                !bytes.windows(path.len()).any(|w| w == path.as_bytes()),
                "{machine}: the binary holds the build path {path}"
            );
        }
        eprintln!("release: {machine} binary {size} bytes, static");
    }
    // The x86_64 one runs here (the arm64 one runs under qemu in the distro tests).
    let bin = unpacked.join(format!("{NAME}-{}-x86_64-linux/files/usr/bin/{NAME}", version()));
    let out = run(Command::new(&bin).arg("--version"));
    assert_eq!(out.trim(), format!("{NAME} {}", version()));
}

/// Every path under `root`, relative, with its type, mode and (files) a digest of its bytes.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let kind = if meta.is_dir() {
                "d"
            } else if meta.file_type().is_symlink() {
                "l"
            } else {
                "f"
            };
            // A file's bytes count too (etc/passwd keeps its mode when a user is added).
            let digest = if kind == "f" {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                std::hash::Hash::hash(&std::fs::read(&path).unwrap(), &mut hasher);
                format!(" {:016x}", std::hash::Hasher::finish(&hasher))
            } else {
                String::new()
            };
            into.insert(rel, format!("{kind} {:o}{digest}", meta.mode() & 0o7777));
            if meta.is_dir() {
                walk(root, &path, into);
            }
        }
    }
    let mut into = BTreeMap::new();
    walk(root, root, &mut into);
    into
}

/// install.sh into a clean root (a base etc/passwd and etc/group), twice (an upgrade keeps an
/// edited config), then `--uninstall` (the config stays) and `--uninstall --purge`: what stays
/// is the system user's lines, as with the .deb.
#[test]
fn the_tarballs_install_sh_places_the_debs_files_and_uninstall_leaves_nothing_behind() {
    require(&["systemd-sysusers"]);
    assert!(
        is_root(),
        "install.sh creates a system user and gives its group the config: run this test as root (CI does)"
    );
    let dist = release();
    let unpacked = work().join("install-sh");
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(dist.join(tarball_name("x86_64"))).arg("-C").arg(&unpacked));
    let install_sh = unpacked.join(format!("{NAME}-{}-x86_64-linux/install.sh", version()));
    let root = unpacked.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let before = tree(&root);
    let passwd_before = std::fs::read_to_string(root.join("etc/passwd")).unwrap();

    let as_root = |args: &[&str]| run(Command::new(&install_sh).args(args).arg("--root").arg(&root));
    as_root(&[]);
    let after = tree(&root);
    // (path, type and mode): what install.sh added or changed.
    let added: Vec<(String, String)> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.split(' ').take(2).collect::<Vec<_>>().join(" ")))
        .collect();
    let doc = format!("usr/share/doc/{NAME}");
    let mut expected: Vec<(String, String)> = [
        ("etc/group", "f 644"),
        ("etc/passwd", "f 644"),
        ("etc/gittensor-miner-agent", "d 755"),
        ("etc/gittensor-miner-agent/config.toml", "f 640"),
        ("etc/gittensor-miner-agent/credentials", "d 700"),
        ("usr", "d 755"),
        ("usr/bin", "d 755"),
        ("usr/bin/gittensor-miner-agent", "f 755"),
        ("usr/lib", "d 755"),
        ("usr/lib/gittensor-miner-agent", "d 755"),
        ("usr/lib/gittensor-miner-agent/installed", "f 644"),
        ("usr/lib/sysusers.d", "d 755"),
        ("usr/lib/sysusers.d/gittensor-miner-agent.conf", "f 644"),
        ("usr/lib/systemd", "d 755"),
        ("usr/lib/systemd/system", "d 755"),
        ("usr/lib/systemd/system/gittensor-miner-agent.service", "f 644"),
        ("usr/lib/systemd/system/gittensor-miner-agent@.service", "f 644"),
        ("usr/share", "d 755"),
        ("usr/share/bash-completion", "d 755"),
        ("usr/share/bash-completion/completions", "d 755"),
        ("usr/share/bash-completion/completions/gittensor-miner-agent", "f 644"),
        ("usr/share/doc", "d 755"),
        (&doc, "d 755"),
        (&format!("{doc}/README.md"), "f 644"),
        (&format!("{doc}/config.example.toml"), "f 644"),
        (&format!("{doc}/examples"), "d 755"),
        (&format!("{doc}/examples/gittensor-miner-agent.grafana.json"), "f 644"),
        (&format!("{doc}/examples/gittensor-miner-agent.rules.test.yml"), "f 644"),
        (&format!("{doc}/examples/gittensor-miner-agent.rules.yml"), "f 644"),
        ("usr/share/fish", "d 755"),
        ("usr/share/fish/vendor_completions.d", "d 755"),
        ("usr/share/fish/vendor_completions.d/gittensor-miner-agent.fish", "f 644"),
        ("usr/share/man", "d 755"),
        ("usr/share/man/man1", "d 755"),
        ("usr/share/man/man1/gittensor-miner-agent.1.gz", "f 644"),
        ("usr/share/zsh", "d 755"),
        ("usr/share/zsh/site-functions", "d 755"),
        ("usr/share/zsh/site-functions/_gittensor-miner-agent", "f 644"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // systemd-sysusers' own: shadow files, backups and its lock beside passwd and group.
    let extra: Vec<_> = added.iter().filter(|(k, _)| is_sysusers_own(k)).cloned().collect();
    expected.extend(extra);
    expected.sort();
    let mut added_sorted = added.clone();
    added_sorted.sort();
    assert_eq!(added_sorted, expected);

    // The user as the .deb's sysusers entry makes it, a system user with the group beside it.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let user = passwd.lines().find(|l| l.starts_with("gittensor-miner-agent:")).expect("no system user");
    let fields: Vec<&str> = user.split(':').collect();
    assert_eq!(
        (fields[4], fields[5], fields[6]),
        ("gittensor miner agent", "/var/lib/gittensor-miner-agent", "/usr/sbin/nologin")
    );
    assert!(fields[2].parse::<u32>().unwrap() < 1000, "not a system uid: {user}");
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    let gid =
        group.lines().find(|l| l.starts_with("gittensor-miner-agent:")).unwrap().split(':').nth(2).unwrap().to_string();
    let config = root.join("etc/gittensor-miner-agent/config.toml");
    // Owned by root and readable by the service's group (it may name wallet paths).
    let meta = std::fs::metadata(&config).unwrap();
    assert_eq!((meta.uid(), meta.gid().to_string()), (0, gid));
    // The files are the .deb's: same binary, unit and man page bytes.
    let deb_tree = work().join("deb-amd64");
    let _ = std::fs::remove_dir_all(&deb_tree);
    run(Command::new("dpkg-deb").arg("-x").arg(dist.join(deb_name("amd64"))).arg(&deb_tree));
    for f in [
        "usr/bin/gittensor-miner-agent",
        "usr/lib/sysusers.d/gittensor-miner-agent.conf",
        "usr/share/man/man1/gittensor-miner-agent.1.gz",
        "usr/share/doc/gittensor-miner-agent/config.example.toml",
    ] {
        assert_eq!(
            std::fs::read(root.join(f)).unwrap(),
            std::fs::read(deb_tree.join(f)).unwrap(),
            "{f} differs from the .deb's"
        );
    }
    let unit = std::fs::read(root.join("usr/lib/systemd/system/gittensor-miner-agent.service")).unwrap();
    assert_eq!(unit, std::fs::read(repo().join("systemd/gittensor-miner-agent.service")).unwrap());

    // Again over an edited config: the config stays, the rest is the same.
    std::fs::write(&config, "# edited\n").unwrap();
    let edited = tree(&root);
    as_root(&[]);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "# edited\n");
    assert_eq!(tree(&root), edited);

    // --uninstall: the config and credentials directory stay, as with `apt remove`.
    as_root(&["--uninstall"]);
    let left: Vec<String> = tree(&root).into_iter().filter(|(k, v)| before.get(k) != Some(v)).map(|(k, _)| k).collect();
    let mut kept = vec![
        "etc/gittensor-miner-agent".to_string(),
        "etc/gittensor-miner-agent/config.toml".to_string(),
        "etc/gittensor-miner-agent/credentials".to_string(),
        "etc/group".to_string(),
        "etc/passwd".to_string(),
    ];
    kept.extend(added.iter().filter(|(k, _)| is_sysusers_own(k)).map(|(k, _)| k.clone()));
    kept.sort();
    assert_eq!(left, kept);

    // Installed once more, then --uninstall --purge: nothing but the system user's lines.
    as_root(&[]);
    as_root(&["--uninstall", "--purge"]);
    let left: Vec<String> = tree(&root).into_iter().filter(|(k, v)| before.get(k) != Some(v)).map(|(k, _)| k).collect();
    let mut users = vec!["etc/group".to_string(), "etc/passwd".to_string()];
    users.extend(added.iter().filter(|(k, _)| is_sysusers_own(k)).map(|(k, _)| k.clone()));
    users.sort();
    assert_eq!(left, users);
    let passwd_after = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert_eq!(passwd_after, format!("{passwd_before}{user}\n"));
}

/// What systemd-sysusers writes beside etc/passwd and etc/group when it adds a user.
fn is_sysusers_own(path: &str) -> bool {
    ["etc/shadow", "etc/gshadow", "etc/passwd-", "etc/group-", "etc/.pwd.lock"].contains(&path)
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).stdout == b"0\n"
}
/// The same commit in another checkout path, with its own target dir (nothing reused): the
/// amd64 .deb and tarball are byte-identical to the first build's.
#[test]
fn a_second_build_elsewhere_gives_byte_identical_debs_and_tarballs() {
    let dist = release();
    let copy = work().join("second-checkout");
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).unwrap();
    // The working tree's files (committed or not, untracked but not ignored), not target/.
    let files = run(Command::new("git").args(["ls-files", "-z", "-co", "--exclude-standard"]).current_dir(repo()));
    for f in files.split('\0').filter(|f| !f.is_empty()) {
        let from = repo().join(f);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = copy.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    let epoch = run(Command::new("git").args(["log", "-1", "--format=%ct"]).current_dir(repo()));
    let out = copy.join("dist");
    let started = Instant::now();
    run(Command::new(copy.join("packaging/release"))
        .arg("--signing-key")
        .arg(&keys().0)
        .args(["--out"])
        .arg(&out)
        .args(["--arch", "amd64"])
        .env("SOURCE_DATE_EPOCH", epoch.trim())
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(&copy));
    eprintln!("release: the second amd64 build took {:.0} s", started.elapsed().as_secs_f64());
    for name in [deb_name("amd64"), tarball_name("x86_64")] {
        let (a, b) = (std::fs::read(dist.join(&name)).unwrap(), std::fs::read(out.join(&name)).unwrap());
        assert!(
            a == b,
            "{name} differs between the two builds ({} and {} bytes); diffoscope them to see where",
            a.len(),
            b.len()
        );
    }
    // Leave the GBs of the second target dir only when asked to.
    let _ = std::fs::remove_dir_all(copy.join("target"));
}
