//! `roster apply FILE [--dry-run] [--prune]`: makes the objects a file declares (groups, the
//! permission template, webhook subscriptions, OpenID Connect clients, SCIM targets) match it, through the
//! same core services as the API (audited and in the outbox where those are).
//!
//! Each kind of object is one [`Kind`]: the section of the file it reads, how one entry is
//! named, how it is checked, read from the database, compared, created, changed and removed.
//! [`plan`] turns a kind's section into a [`Plan`]; every section is planned (and so every entry
//! checked) before anything changes. Adding a kind is one `impl Kind` and one line in
//! [`KINDS`]'s `plan_all`.

mod kinds;

use anyhow::Context;
use roster_core::Core;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file: TOML (.toml) or YAML (.yaml, .yml).
    file: PathBuf,
    /// Print what would change and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Remove the objects of the kinds the file has a section for that it does not name.
    #[arg(long)]
    prune: bool,
}

/// The sections a file may have, in the order they are applied.
pub const KINDS: [&str; 5] = [
    kinds::Templates::SECTION,
    kinds::Groups::SECTION,
    kinds::Webhooks::SECTION,
    kinds::Clients::SECTION,
    kinds::ScimTargets::SECTION,
];

/// Where the file is (`file:` secrets are read relative to it).
pub struct Origin {
    base: PathBuf,
}

/// One kind of object the file declares.
pub trait Kind {
    /// Its section in the file (a list of entries).
    const SECTION: &'static str;
    /// One entry as the file gives it.
    type Spec: DeserializeOwned;
    /// One entry as it should be: checked, its secrets read, its references resolved.
    type Desired;
    /// One object as the database holds it.
    type Live;

    /// What names an entry (unique within the section): a group's name, a client's id, ...
    fn key(spec: &Self::Spec) -> String;
    /// Checks an entry (as the core would on creation, changing nothing) and resolves it.
    fn desired(core: &Core, spec: Self::Spec, origin: &Origin) -> impl Future<Output = anyhow::Result<Self::Desired>>;
    /// Every object of the kind in the database, with its key.
    fn live(core: &Core) -> impl Future<Output = anyhow::Result<Vec<(String, Self::Live)>>>;
    /// The fields that differ (empty: nothing to do). Fails where the difference cannot be
    /// made (a client's type).
    fn changes(
        core: &Core,
        desired: &Self::Desired,
        live: &Self::Live,
    ) -> impl Future<Output = anyhow::Result<Vec<&'static str>>>;
    /// Creates it; returns a line to print (a generated secret, shown once), if any.
    fn create(core: &Core, desired: Self::Desired) -> impl Future<Output = anyhow::Result<Option<String>>>;
    /// Makes the object `live` what `desired` says (`fields` differ).
    fn update(
        core: &Core,
        desired: Self::Desired,
        live: Self::Live,
        fields: &[&'static str],
    ) -> impl Future<Output = anyhow::Result<()>>;
    /// Removes it.
    fn delete(core: &Core, live: Self::Live) -> impl Future<Output = anyhow::Result<()>>;
}

/// What happens to one object.
enum Action<K: Kind> {
    Create(K::Desired),
    Update(K::Desired, K::Live, Vec<&'static str>),
    Unchanged,
    Delete(K::Live),
    /// In the database, not in the file, kept (no --prune).
    Extra,
}

/// A kind's section, planned.
struct KindPlan<K: Kind> {
    steps: Vec<(String, Action<K>)>,
}

type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A planned section, whatever its kind.
trait Plan {
    fn section(&self) -> &'static str;
    /// One line per object that changes or is extra.
    fn describe(&self, dry_run: bool) -> Vec<String>;
    fn counts(&self) -> Counts;
    fn execute<'a>(self: Box<Self>, core: &'a Core) -> LocalFuture<'a, anyhow::Result<Vec<String>>>;
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    create: usize,
    update: usize,
    delete: usize,
    unchanged: usize,
    extra: usize,
}

impl<K: Kind + 'static> Plan for KindPlan<K> {
    fn section(&self) -> &'static str {
        K::SECTION
    }

    fn describe(&self, dry_run: bool) -> Vec<String> {
        let would = |verb: &str, past: &str| {
            if dry_run {
                format!("would {verb}")
            } else {
                past.to_string()
            }
        };
        self.steps
            .iter()
            .filter_map(|(key, action)| match action {
                Action::Create(_) => Some(format!("  + {} {key}", would("create", "create"))),
                Action::Update(_, _, fields) => Some(format!(
                    "  ~ {} {key}: {}",
                    would("update", "update"),
                    fields.join(", ")
                )),
                Action::Delete(_) => Some(format!("  - {} {key}", would("delete", "delete"))),
                Action::Extra => Some(format!("  ! not in the file, kept (--prune removes it): {key}")),
                Action::Unchanged => None,
            })
            .collect()
    }

    fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for (_, action) in &self.steps {
            match action {
                Action::Create(_) => counts.create += 1,
                Action::Update(..) => counts.update += 1,
                Action::Delete(_) => counts.delete += 1,
                Action::Unchanged => counts.unchanged += 1,
                Action::Extra => counts.extra += 1,
            }
        }
        counts
    }

    fn execute<'a>(self: Box<Self>, core: &'a Core) -> LocalFuture<'a, anyhow::Result<Vec<String>>> {
        Box::pin(async move {
            let mut notes = Vec::new();
            for (key, action) in self.steps {
                let done = match action {
                    Action::Create(desired) => K::create(core, desired).await.map(|note| notes.extend(note)),
                    Action::Update(desired, live, fields) => K::update(core, desired, live, &fields).await,
                    Action::Delete(live) => K::delete(core, live).await,
                    Action::Unchanged | Action::Extra => Ok(()),
                };
                done.with_context(|| format!("{}: {key}", K::SECTION))?;
            }
            Ok(notes)
        })
    }
}

/// Reads `K`'s section (if the file has one) and plans it: checks every entry, compares it
/// with the database. `Ok(None)`: the file has no such section (the kind is left alone).
async fn plan<K: Kind + 'static>(
    core: &Core,
    document: &mut BTreeMap<String, Value>,
    origin: &Origin,
    prune: bool,
) -> anyhow::Result<Option<Box<dyn Plan>>> {
    let Some(section) = document.remove(K::SECTION) else {
        return Ok(None);
    };
    let specs: Vec<K::Spec> = serde_path_to_error::deserialize(section).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!("{}{}: {}", K::SECTION, located(&path), e.inner())
    })?;
    let mut desired = BTreeMap::new();
    let mut order = Vec::new();
    for (index, spec) in specs.into_iter().enumerate() {
        let key = K::key(&spec);
        let at = format!("{}[{index}] ({key})", K::SECTION);
        if desired.contains_key(&key) {
            anyhow::bail!("{at}: named twice in the file");
        }
        let entry = K::desired(core, spec, origin).await.with_context(|| at.clone())?;
        order.push(key.clone());
        desired.insert(key, entry);
    }
    let mut live: BTreeMap<String, K::Live> = BTreeMap::new();
    for (key, object) in K::live(core).await? {
        if live.insert(key.clone(), object).is_some() && desired.contains_key(&key) {
            anyhow::bail!(
                "{}: {key} names more than one object in the database; remove the others first",
                K::SECTION
            );
        }
    }
    let mut steps = Vec::new();
    for key in order {
        let Some(entry) = desired.remove(&key) else { continue };
        let action = match live.remove(&key) {
            None => Action::Create(entry),
            Some(object) => {
                let fields = K::changes(core, &entry, &object)
                    .await
                    .with_context(|| format!("{}: {key}", K::SECTION))?;
                if fields.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update(entry, object, fields)
                }
            }
        };
        steps.push((key, action));
    }
    for (key, object) in live {
        steps.push((key, if prune { Action::Delete(object) } else { Action::Extra }));
    }
    Ok(Some(Box::new(KindPlan::<K> { steps })))
}

/// `.name` or `[2].url` after a section name; nothing for the section itself.
fn located(path: &str) -> String {
    match path {
        "." | "" => String::new(),
        p if p.starts_with('[') => p.to_string(),
        p => format!(".{p}"),
    }
}

/// Plans every kind, in [`KINDS`] order. The one list of kinds.
async fn plan_all(
    core: &Core,
    document: &mut BTreeMap<String, Value>,
    origin: &Origin,
    prune: bool,
) -> anyhow::Result<Vec<Box<dyn Plan>>> {
    let plans = [
        plan::<kinds::Templates>(core, document, origin, prune).await?,
        plan::<kinds::Groups>(core, document, origin, prune).await?,
        plan::<kinds::Webhooks>(core, document, origin, prune).await?,
        plan::<kinds::Clients>(core, document, origin, prune).await?,
        plan::<kinds::ScimTargets>(core, document, origin, prune).await?,
    ];
    Ok(plans.into_iter().flatten().collect())
}

/// Reads the file as a map of sections: TOML or YAML by its extension. Syntax errors name the
/// line; an unknown section is an error.
pub fn read_document(path: &Path) -> anyhow::Result<BTreeMap<String, Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let value: Value = match extension.as_str() {
        "toml" => {
            let value: toml::Value = toml::from_str(&text).map_err(|e| toml_error(&text, &e))?;
            serde_json::to_value(value)?
        }
        "yaml" | "yml" => serde_yaml_ng::from_str(&text).map_err(|e| anyhow::anyhow!("{e}"))?,
        _ => anyhow::bail!("unknown file type: the name must end in .toml, .yaml or .yml"),
    };
    let map = match value {
        Value::Object(map) => map,
        Value::Null => serde_json::Map::new(),
        _ => anyhow::bail!("the file must be a map of sections ({})", KINDS.join(", ")),
    };
    if let Some(unknown) = map.keys().find(|k| !KINDS.contains(&k.as_str())) {
        anyhow::bail!("unknown section {unknown:?} (known: {})", KINDS.join(", "));
    }
    Ok(map.into_iter().collect())
}

/// A TOML error on one line: where, then what.
fn toml_error(text: &str, error: &toml::de::Error) -> anyhow::Error {
    let message = error.message().trim_end().replace('\n', "; ");
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            anyhow::anyhow!("line {line}, column {column}: {message}")
        }
        None => anyhow::anyhow!("{message}"),
    }
}

pub async fn run(core: &Core, args: Args) -> anyhow::Result<()> {
    let file = args.file.display().to_string();
    let origin = Origin {
        base: args
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let mut document = read_document(&args.file).with_context(|| file.clone())?;
    let plans = plan_all(core, &mut document, &origin, args.prune)
        .await
        .with_context(|| file.clone())?;
    let mut total = Counts::default();
    for plan in &plans {
        let lines = plan.describe(args.dry_run);
        let counts = plan.counts();
        total.create += counts.create;
        total.update += counts.update;
        total.delete += counts.delete;
        total.unchanged += counts.unchanged;
        total.extra += counts.extra;
        if !lines.is_empty() {
            println!("{}:", plan.section());
            for line in lines {
                println!("{line}");
            }
        }
    }
    let changes = total.create + total.update + total.delete;
    let summary = format!(
        "{} to create, {} to update, {} to delete, {} unchanged, {} not in the file",
        total.create, total.update, total.delete, total.unchanged, total.extra
    );
    if changes == 0 {
        println!("No changes: the database matches {file} ({summary}).");
        return Ok(());
    }
    if args.dry_run {
        println!("Dry run, nothing changed: {summary}.");
        return Ok(());
    }
    for plan in plans {
        for note in plan.execute(core).await.with_context(|| file.clone())? {
            println!("{note}");
        }
    }
    println!(
        "Applied {file}: {} created, {} updated, {} deleted.",
        total.create, total.update, total.delete
    );
    Ok(())
}

/// A secret as the file gives it: `env:NAME` (an environment variable), `file:PATH` (a file's
/// contents without the final newline; relative to the file's directory), or the secret
/// itself. Never printed.
pub fn read_secret(raw: &str, origin: &Origin) -> anyhow::Result<String> {
    let secret = if let Some(name) = raw.strip_prefix("env:") {
        std::env::var(name).map_err(|_| anyhow::anyhow!("the environment variable {name} is not set"))?
    } else if let Some(path) = raw.strip_prefix("file:") {
        let path = origin.base.join(path);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        text.trim_end_matches(['\r', '\n']).to_string()
    } else {
        raw.to_string()
    };
    if secret.is_empty() {
        anyhow::bail!("the secret is empty");
    }
    Ok(secret)
}

/// The fields whose values differ, by name.
pub fn differing(pairs: &[(&'static str, bool)]) -> Vec<&'static str> {
    pairs.iter().filter(|(_, same)| !same).map(|(name, _)| *name).collect()
}

/// `items` as a set (order and repeats do not count).
pub fn set_of<T: Ord + Clone>(items: &[T]) -> BTreeSet<T> {
    items.iter().cloned().collect()
}
