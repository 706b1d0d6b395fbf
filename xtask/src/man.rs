//! The man page. Its prose (description, files, environment, exit status, examples) is
//! `packaging/man/gittensor-miner-agent.1.in`, written as roff; the parts that must follow the
//! program are filled in here, each replacing a marker line of the template:
//! the commands and their options from the CLI definition (`src/cli.rs`), the configuration
//! keys from `config.example.toml` (every key, with its comment and default), the version from
//! the crate and the date from the Debian changelog's newest entry (so a rebuild is identical).

use std::fmt::Write as _;

use anyhow::{bail, ensure, Context};
use clap::{Arg, ArgAction, Args, Command};

use crate::BIN;

const TEMPLATE: &str = include_str!("../../packaging/man/gittensor-miner-agent.1.in");
const CONFIG_EXAMPLE: &str = include_str!("../../config.example.toml");
const CHANGELOG: &str = include_str!("../../packaging/debian/changelog");

/// The page, as roff source (`man -l` reads it; the package installs it gzipped).
pub fn render() -> anyhow::Result<String> {
    let command = crate::command();
    let common: Vec<String> = common_ids();
    let leaves = leaves(&command, &[]);
    let fills = [
        ("@VERSION@", crate::version()),
        ("@DATE@", changelog_date(CHANGELOG)?),
        ("@SYNOPSIS@", synopsis(&leaves)),
        ("@COMMANDS@", commands(&leaves, &common)),
        ("@OPTIONS@", options(&command, &leaves, &common)),
        ("@CONFIG@", config(CONFIG_EXAMPLE)?),
    ];
    let mut page = TEMPLATE.to_owned();
    for (marker, text) in fills {
        ensure!(page.contains(marker), "the man page template has no {marker}");
        page = page.replace(marker, &text);
    }
    if let Some(marker) = leftover_marker(&page) {
        bail!("the man page template has a marker nothing fills: {marker}");
    }
    Ok(page)
}

/// `@NAME@` still in the page.
fn leftover_marker(page: &str) -> Option<&str> {
    page.match_indices('@').find_map(|(i, _)| {
        let rest = &page[i + 1..];
        let len = rest.chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').count();
        (len > 0 && rest[len..].starts_with('@')).then(|| &page[i..i + len + 2])
    })
}

/// A command a user runs (`check`, `pat set`, …): the words after the program's name.
struct Leaf<'a> {
    words: Vec<&'a str>,
    command: &'a Command,
}

fn leaves<'a>(command: &'a Command, above: &[&'a str]) -> Vec<Leaf<'a>> {
    let mut out = Vec::new();
    for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        let mut words = above.to_vec();
        words.push(sub.get_name());
        if sub.has_subcommands() {
            out.extend(leaves(sub, &words));
        } else {
            out.push(Leaf { words, command: sub });
        }
    }
    out
}

/// The ids of the flags every configuration-reading command shares (`CommonArgs`): the page
/// lists them once, under OPTIONS.
fn common_ids() -> Vec<String> {
    let shared = gittensor_miner_agent::cli::CommonArgs::augment_args(Command::new("common"));
    shared.get_arguments().map(|a| a.get_id().to_string()).collect()
}

fn takes_common(command: &Command, common: &[String]) -> bool {
    common.iter().all(|id| command.get_arguments().any(|a| a.get_id() == id.as_str()))
}

fn own_args<'a>(command: &'a Command, common: &[String]) -> Vec<&'a Arg> {
    let common = if takes_common(command, common) { common } else { &[] };
    command.get_arguments().filter(|a| !a.is_hide_set() && !common.iter().any(|id| a.get_id() == id.as_str())).collect()
}

fn synopsis(leaves: &[Leaf]) -> String {
    let mut out = String::new();
    for leaf in leaves {
        let _ = writeln!(
            out,
            "{} [\\fB\\-v\\fR]... \\fB{}\\fR [\\fIoptions\\fR]\n.br",
            bold(BIN),
            escape(&leaf.words.join(" "))
        );
    }
    out + &format!("{} \\fB\\-\\-help\\fR | \\fB\\-\\-version\\fR", bold(BIN))
}

fn commands(leaves: &[Leaf], common: &[String]) -> String {
    let mut out = String::new();
    for leaf in leaves {
        let words = leaf.words.join(" ");
        let _ = writeln!(out, ".SS \"{}\"", escape(&words));
        let mut usage = format!("\\fB{} {}\\fR", escape(BIN), escape(&words));
        if takes_common(leaf.command, common) {
            usage.push_str(" [\\fIcommon options\\fR]");
        }
        let args = own_args(leaf.command, common);
        for arg in &args {
            let _ = write!(usage, " [{}]", arg_usage(arg));
        }
        let _ = writeln!(out, "{usage}");
        let about = leaf.command.get_long_about().or(leaf.command.get_about()).map(ToString::to_string);
        for paragraph in paragraphs(about.as_deref().unwrap_or_default()) {
            let _ = writeln!(out, ".PP\n{}", text(&paragraph));
        }
        for arg in args {
            out.push_str(&arg_entry(arg));
        }
    }
    out.trim_end().to_owned()
}

fn options(command: &Command, leaves: &[Leaf], common: &[String]) -> String {
    // Built, so that the top level has its -h and -V.
    let mut built = command.clone();
    built.build();
    let mut out = String::from(".SS \"Global options\"\n");
    for arg in built.get_arguments().filter(|a| !a.is_hide_set()) {
        out.push_str(&arg_entry(arg));
    }
    let takers: Vec<String> = leaves
        .iter()
        .filter(|l| takes_common(l.command, common))
        .map(|l| format!("\\fB{}\\fR", escape(&l.words.join(" "))))
        .collect();
    let _ = writeln!(
        out,
        ".SS \"Common options\"\nTaken by {}. They name the miner's hotkey and the chain, as \\fBgitt miner check\\fR does, and override the configuration file; the program works without one.",
        sentence_list(&takers)
    );
    let shared = gittensor_miner_agent::cli::CommonArgs::augment_args(Command::new("common"));
    for arg in shared.get_arguments().filter(|a| !a.is_hide_set()) {
        out.push_str(&arg_entry(arg));
    }
    out.trim_end().to_owned()
}

fn sentence_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

fn value_name(arg: &Arg) -> String {
    match arg.get_value_names() {
        Some(names) if !names.is_empty() => names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(" "),
        _ => arg.get_id().as_str().to_uppercase(),
    }
}

/// `\fB--retry-budget\fR \fISECS\fR`, for a usage line.
fn arg_usage(arg: &Arg) -> String {
    if arg.is_positional() {
        return format!("\\fI{}\\fR", escape(&value_name(arg)));
    }
    let name = match (arg.get_long(), arg.get_short()) {
        (Some(long), _) => format!("\\fB\\-\\-{}\\fR", escape(long)),
        (None, Some(short)) => format!("\\fB\\-{}\\fR", escape(&short.to_string())),
        (None, None) => String::new(),
    };
    if takes_value(arg) {
        format!("{name} \\fI{}\\fR", escape(&value_name(arg)))
    } else {
        name
    }
}

/// One option as a tagged paragraph: its spellings, its value, its help, its choices.
fn arg_entry(arg: &Arg) -> String {
    let mut tag = Vec::new();
    if let Some(short) = arg.get_short() {
        tag.push(format!("\\fB\\-{}\\fR", escape(&short.to_string())));
    }
    if let Some(long) = arg.get_long() {
        tag.push(format!("\\fB\\-\\-{}\\fR", escape(long)));
    }
    let mut tag = tag.join(", ");
    if arg.is_positional() {
        tag = format!("\\fI{}\\fR", escape(&value_name(arg)));
    } else if takes_value(arg) {
        let _ = write!(tag, " \\fI{}\\fR", escape(&value_name(arg)));
    } else if matches!(arg.get_action(), ArgAction::Count) {
        tag.push_str(" ...");
    }
    let mut out = format!(".TP\n{tag}\n");
    let help = arg.get_long_help().or(arg.get_help()).map(ToString::to_string).unwrap_or_default();
    for (i, paragraph) in paragraphs(&help).into_iter().enumerate() {
        if i > 0 {
            out.push_str(".IP\n");
        }
        let _ = writeln!(out, "{}", text(&paragraph));
    }
    let choices: Vec<String> =
        arg.get_possible_values().iter().filter(|v| !v.is_hide_set()).map(|v| bold(v.get_name())).collect();
    if !choices.is_empty() && takes_value(arg) {
        let _ = writeln!(out, "One of {}.", choices.join(", "));
    }
    let defaults: Vec<String> = arg.get_default_values().iter().map(|v| bold(&v.to_string_lossy())).collect();
    if !defaults.is_empty() && takes_value(arg) {
        let _ = writeln!(out, "Default: {}.", defaults.join(", "));
    }
    out
}

/// Help text as paragraphs, each a sentence: clap drops the full stop of a one-line help.
fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .map(|mut p| {
            if p.ends_with(|c: char| c.is_alphanumeric() || c == ')' || c == '`') {
                p.push('.');
            }
            p
        })
        .collect()
}

/// The configuration keys, from `config.example.toml`: each section, each key (or group of
/// keys under one comment) with its default (or, for a key commented out, its example) and
/// the comment above it. A table whose header is itself commented out is shown as its
/// example.
pub fn config(example: &str) -> anyhow::Result<String> {
    let items = parse_config(example);
    ensure!(items.iter().any(|i| matches!(i, ConfigItem::Group { .. })), "config.example.toml has no keys");
    let mut out = String::new();
    if matches!(items.first(), Some(ConfigItem::Group { .. })) {
        out.push_str(".SS \"Top-level keys\"\n");
    }
    for item in items {
        match item {
            ConfigItem::Table { header, about } => {
                let _ = writeln!(out, ".SS \"{}\"", escape(&header));
                if !about.is_empty() {
                    let _ = writeln!(out, ".PP\n{}", text(&about));
                }
            }
            ConfigItem::Note(note) => {
                let _ = writeln!(out, ".PP\n{}", text(&note));
            }
            ConfigItem::Example { header, about, lines } => {
                let _ = writeln!(out, ".SS \"{}\"", escape(&header));
                if !about.is_empty() {
                    let _ = writeln!(out, ".PP\n{}", text(&about));
                }
                out.push_str(".PP\nFor example:\n.RS\n.nf\n");
                for line in std::iter::once(&header).chain(&lines) {
                    let _ = writeln!(out, "{}", guard(&escape(line)));
                }
                out.push_str(".fi\n.RE\n");
            }
            ConfigItem::Group { keys, about } => {
                for (i, key) in keys.iter().enumerate() {
                    let macro_ = if i == 0 { ".TP" } else { ".TQ" };
                    let value = escape(&key.value);
                    if key.set {
                        let _ = writeln!(out, "{macro_}\n{} = {value}", bold(&key.name));
                    } else {
                        let _ = writeln!(out, "{macro_}\n{} = {value} \\fI(commented out)\\fR", bold(&key.name));
                    }
                }
                if !about.is_empty() {
                    let _ = writeln!(out, "{}", text(&about));
                }
            }
        }
    }
    Ok(out.trim_end().to_owned())
}

#[derive(Debug)]
struct ConfigKey {
    name: String,
    value: String,
    /// Set in the example (so the value is the default), or commented out (an example).
    set: bool,
}

#[derive(Debug)]
enum ConfigItem {
    Table {
        header: String,
        about: String,
    },
    /// A table whose header is commented out: optional, shown as it is written.
    Example {
        header: String,
        about: String,
        lines: Vec<String>,
    },
    Group {
        keys: Vec<ConfigKey>,
        about: String,
    },
    Note(String),
}

fn parse_config(example: &str) -> Vec<ConfigItem> {
    let mut items = Vec::new();
    let mut comment: Vec<String> = Vec::new();
    let mut keys: Vec<ConfigKey> = Vec::new();
    let mut group_about = String::new();
    let mut in_example = false;
    let mut seen_blank = false;

    fn flush(items: &mut Vec<ConfigItem>, keys: &mut Vec<ConfigKey>, about: &mut String) {
        if !keys.is_empty() {
            items.push(ConfigItem::Group { keys: std::mem::take(keys), about: std::mem::take(about) });
        }
    }

    for line in example.lines().map(str::trim) {
        let commented = line.strip_prefix('#').map(str::trim);
        let body = commented.unwrap_or(line);
        if line.is_empty() {
            flush(&mut items, &mut keys, &mut group_about);
            // The file's own header (before its first blank line) is for readers of the file.
            if !comment.is_empty() && seen_blank {
                items.push(ConfigItem::Note(comment.join(" ")));
            }
            comment.clear();
            seen_blank = true;
        } else if let Some(header) = table_header(body) {
            flush(&mut items, &mut keys, &mut group_about);
            let about = std::mem::take(&mut comment).join(" ");
            in_example = commented.is_some();
            items.push(if in_example {
                ConfigItem::Example { header: header.to_owned(), about, lines: Vec::new() }
            } else {
                ConfigItem::Table { header: header.to_owned(), about }
            });
        } else if let Some((name, value)) = key_line(body) {
            if in_example {
                if let Some(ConfigItem::Example { lines, .. }) = items.last_mut() {
                    lines.push(body.to_owned());
                }
                continue;
            }
            if keys.is_empty() {
                group_about = std::mem::take(&mut comment).join(" ");
            }
            keys.push(ConfigKey { name: name.to_owned(), value: value.to_owned(), set: commented.is_none() });
        } else if let Some(text) = commented {
            flush(&mut items, &mut keys, &mut group_about);
            comment.push(text.to_owned());
        }
    }
    flush(&mut items, &mut keys, &mut group_about);
    items
}

/// `[pat]`, `[[validators]]`.
fn table_header(line: &str) -> Option<&str> {
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let name = inner.trim_start_matches('[').trim_end_matches(']');
    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.').then_some(line)
}

/// `key = value`, the key a bare TOML key and the whole line valid TOML (a comment's prose
/// may wrap to begin `listen_beyond_loopback = true says …`).
fn key_line(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    let value = value.trim();
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (bare && line.parse::<toml::Table>().is_ok()).then_some((key, value))
}

/// `Tue, 24 Nov 2026 00:00:00 +0000` of the newest changelog entry, as `2026-11-24`.
pub fn changelog_date(changelog: &str) -> anyhow::Result<String> {
    let line = changelog.lines().find(|l| l.starts_with(" -- ")).context("the changelog has no trailer line")?;
    let date = line.split("  ").nth(1).context("the changelog's trailer has no date")?;
    let fields: Vec<&str> = date.split_whitespace().collect();
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (day, month, year) = match fields.as_slice() {
        [_, day, month, year, ..] => (day, month, year),
        _ => bail!("the changelog's date {date:?} is not in RFC 2822 form"),
    };
    let month = MONTHS.iter().position(|m| m == month).with_context(|| format!("unknown month in {date:?}"))? + 1;
    let day: u32 = day.parse().with_context(|| format!("bad day in {date:?}"))?;
    Ok(format!("{year}-{month:02}-{day:02}"))
}

/// Escapes text for roff: backslashes, hyphens (so they stay hyphens), and anything outside
/// ASCII as a named glyph (`\[u03B1]`), so the page reads the same in every locale.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            c if c.is_ascii() => out.push(c),
            c => {
                let _ = write!(out, "\\[u{:04X}]", c as u32);
            }
        }
    }
    out
}

fn bold(text: &str) -> String {
    format!("\\fB{}\\fR", escape(text))
}

/// A text line: escaped, `code` in bold, and never read as a request.
fn text(paragraph: &str) -> String {
    let parts: Vec<&str> = paragraph.split('`').collect();
    let line = if parts.len() % 2 == 1 {
        parts.iter().enumerate().map(|(i, p)| if i % 2 == 1 { bold(p) } else { escape(p) }).collect()
    } else {
        escape(paragraph)
    };
    guard(&line)
}

/// A line that starts with `.` or `'` would be a request: `\&` keeps it text.
fn guard(line: &str) -> String {
    if line.starts_with(['.', '\'']) {
        format!("\\&{line}")
    } else {
        line.to_owned()
    }
}
