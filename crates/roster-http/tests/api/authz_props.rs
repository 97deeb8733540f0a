//! A property of authorization: for random sequences of native-API operations by random
//! actors (an administrator, two users, a pending, a deactivated and a banned account, and
//! nobody), each calling with its access token or its API key, on its own or someone else's
//! resources, no actor reads or changes what its role does not allow.
//!
//! Every step is checked twice against a small model of the rules: the answer (status, and
//! that a refused read shows nothing of its target), and then the whole state in the store
//! (every account's existence, role, active flag and name, every session and API key, group
//! membership) must equal the model's: a refused request changed nothing, an allowed one
//! exactly what it says. 64 cases per backend by default; `PROPTEST_CASES=1000` runs more.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use roster_core::service::NewGroup;
use roster_core::time::Duration;
use roster_core::{GroupId, Role, SessionId, UserId};
use roster_testkit::app::{TestApp, TestUser};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    User,
    Other,
    Pending,
    Deactivated,
    Banned,
    Anonymous,
}

/// The accounts of a case (everyone but `Anonymous`), in the model's order.
const PEOPLE: [Who; 6] = [
    Who::Admin,
    Who::User,
    Who::Other,
    Who::Pending,
    Who::Deactivated,
    Who::Banned,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    Token,
    Key,
}

#[derive(Debug, Clone)]
enum Op {
    GetMe,
    PatchMe(u8),
    GetUser(Who),
    ListUsers,
    Rename(Who, u8),
    SetRole(Who, Role),
    SetActive(Who, bool),
    Delete(Who),
    RevokeSessions(Who),
    ListSessions,
    DeleteSession(Who),
    CreateKey,
    ListKeys,
    DeleteKey(Who),
    ListGroups,
    GetGroup,
    CreateGroup,
    AddMember(Who),
    Members,
}

#[derive(Debug, Clone)]
struct Step {
    actor: Who,
    credential: Credential,
    op: Op,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        3 => Just(Who::Admin),
        3 => Just(Who::User),
        3 => Just(Who::Other),
        1 => Just(Who::Pending),
        1 => Just(Who::Deactivated),
        1 => Just(Who::Banned),
        1 => Just(Who::Anonymous),
    ]
}

fn person() -> impl Strategy<Value = Who> {
    proptest::sample::select(PEOPLE.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    let role = prop_oneof![Just(Role::Admin), Just(Role::User), Just(Role::Pending)];
    prop_oneof![
        Just(Op::GetMe),
        any::<u8>().prop_map(Op::PatchMe),
        person().prop_map(Op::GetUser),
        Just(Op::ListUsers),
        (person(), any::<u8>()).prop_map(|(w, n)| Op::Rename(w, n)),
        (person(), role).prop_map(|(w, r)| Op::SetRole(w, r)),
        (person(), any::<bool>()).prop_map(|(w, b)| Op::SetActive(w, b)),
        person().prop_map(Op::Delete),
        person().prop_map(Op::RevokeSessions),
        Just(Op::ListSessions),
        person().prop_map(Op::DeleteSession),
        Just(Op::CreateKey),
        Just(Op::ListKeys),
        person().prop_map(Op::DeleteKey),
        Just(Op::ListGroups),
        Just(Op::GetGroup),
        Just(Op::CreateGroup),
        person().prop_map(Op::AddMember),
        Just(Op::Members),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let credential = prop_oneof![Just(Credential::Token), Just(Credential::Key)];
    proptest::collection::vec(
        (who(), credential, op()).prop_map(|(actor, credential, op)| Step { actor, credential, op }),
        1..14,
    )
}

/// One account as the model sees it.
#[derive(Debug, Clone)]
struct Person {
    id: UserId,
    email: String,
    token: String,
    session: SessionId,
    key: String,
    key_id: String,
    /// Keys the account created during the case.
    more_keys: Vec<String>,
    exists: bool,
    role: Role,
    active: bool,
    banned: bool,
    name: Option<String>,
    session_alive: bool,
    key_alive: bool,
    member: bool,
}

impl Person {
    /// May sign in as far as role and activation go (a ban aside).
    fn may_sign_in(&self) -> bool {
        self.active && self.role != Role::Pending
    }

    fn may_act(&self, credential: Credential) -> bool {
        self.exists
            && self.may_sign_in()
            && !self.banned
            && match credential {
                Credential::Token => self.session_alive,
                Credential::Key => self.key_alive,
            }
    }
}

struct Case<'a> {
    app: &'a TestApp,
    people: Vec<Person>,
    group: GroupId,
}

fn index(w: Who) -> usize {
    PEOPLE.iter().position(|p| *p == w).unwrap_or(0)
}

static NAMES: AtomicU32 = AtomicU32::new(0);

async fn new_person(app: &TestApp, state: Who) -> Person {
    let user: TestUser = app.user(Role::User).await;
    let key = app
        .post("/v1/me/api-keys", Some(&user.access_token), &json!({ "name": "props" }))
        .await;
    key.assert_status(201);
    let sessions = app.get("/v1/me/sessions", Some(&user.access_token)).await;
    sessions.assert_status(200);
    let session: SessionId = sessions.body[0]["id"].as_str().unwrap().parse().unwrap();
    let core = &app.core;
    match state {
        Who::Admin => {
            core.admin_update_user(
                core.operator(),
                user.id,
                roster_core::service::AdminUserChanges {
                    role: Some(Role::Admin),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
        Who::Pending => {
            core.admin_update_user(
                core.operator(),
                user.id,
                roster_core::service::AdminUserChanges {
                    role: Some(Role::Pending),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
        Who::Deactivated => {
            core.admin_update_user(
                core.operator(),
                user.id,
                roster_core::service::AdminUserChanges {
                    active: Some(false),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
        Who::Banned => {
            core.ban_user(core.operator(), user.id, Duration::hours(1), Some("props"))
                .await
                .unwrap();
        }
        _ => {}
    }
    let stored = core.store.get_user(user.id).await.unwrap();
    let mut person = Person {
        id: user.id,
        email: user.email.clone(),
        token: user.access_token.clone(),
        session,
        key: key.body["secret"].as_str().unwrap().to_string(),
        key_id: key.body["id"].as_str().unwrap().to_string(),
        more_keys: Vec::new(),
        exists: true,
        role: stored.role,
        active: stored.active,
        banned: state == Who::Banned,
        name: stored.name.clone(),
        session_alive: false,
        key_alive: true,
        member: false,
    };
    person.session_alive = core.store.get_session_with_user(session).await.is_ok();
    person
}

impl Case<'_> {
    async fn new<'a>(app: &'a TestApp, root: &TestUser) -> Case<'a> {
        // Made at once: password hashing is most of a case's time.
        let (a, u, o, p, d, b) = tokio::join!(
            new_person(app, PEOPLE[0]),
            new_person(app, PEOPLE[1]),
            new_person(app, PEOPLE[2]),
            new_person(app, PEOPLE[3]),
            new_person(app, PEOPLE[4]),
            new_person(app, PEOPLE[5]),
        );
        let mut people = vec![a, u, o, p, d, b];
        let root_actor = app.core.authenticate_bearer(&root.access_token).await.unwrap();
        let group = app
            .core
            .create_group(
                &root_actor,
                NewGroup {
                    name: format!("props-{}", NAMES.fetch_add(1, Ordering::Relaxed)),
                    description: None,
                    permissions: None,
                },
            )
            .await
            .unwrap();
        let other = index(Who::Other);
        app.core
            .add_group_members(&root_actor, group.id, &[people[other].id])
            .await
            .unwrap();
        people[other].member = true;
        Case {
            app,
            people,
            group: group.id,
        }
    }

    fn path_of(&self, w: Who) -> String {
        format!("/v1/users/{}", self.people[index(w)].id)
    }

    /// Runs one step and checks the answer; updates the model when the step was allowed.
    async fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        let app = self.app;
        let caller = (step.actor != Who::Anonymous).then(|| index(step.actor));
        let credential = caller.map(|c| match step.credential {
            Credential::Token => self.people[c].token.clone(),
            Credential::Key => self.people[c].key.clone(),
        });
        let token = credential.as_deref();
        let may_act = caller.is_some_and(|c| self.people[c].may_act(step.credential));
        let me = caller.unwrap_or(0);
        let is_admin = may_act && self.people[me].role == Role::Admin;
        let name = |n: u8| format!("Name {n}");
        let response = match &step.op {
            Op::GetMe => app.get("/v1/me", token).await,
            Op::PatchMe(n) => app.patch("/v1/me", token, &json!({ "name": name(*n) })).await,
            Op::GetUser(t) => app.get(&self.path_of(*t), token).await,
            Op::ListUsers => app.get("/v1/users?limit=100", token).await,
            Op::Rename(t, n) => app.patch(&self.path_of(*t), token, &json!({ "name": name(*n) })).await,
            Op::SetRole(t, r) => {
                app.patch(&self.path_of(*t), token, &json!({ "role": r.as_str() }))
                    .await
            }
            Op::SetActive(t, b) => app.patch(&self.path_of(*t), token, &json!({ "active": b })).await,
            Op::Delete(t) => app.delete(&self.path_of(*t), token).await,
            Op::RevokeSessions(t) => {
                app.post(&format!("{}/sessions/revoke", self.path_of(*t)), token, &json!({}))
                    .await
            }
            Op::ListSessions => app.get("/v1/me/sessions", token).await,
            Op::DeleteSession(t) => {
                app.delete(&format!("/v1/me/sessions/{}", self.people[index(*t)].session), token)
                    .await
            }
            Op::CreateKey => app.post("/v1/me/api-keys", token, &json!({ "name": "more" })).await,
            Op::ListKeys => app.get("/v1/me/api-keys", token).await,
            Op::DeleteKey(t) => {
                app.delete(&format!("/v1/me/api-keys/{}", self.people[index(*t)].key_id), token)
                    .await
            }
            Op::ListGroups => app.get("/v1/groups", token).await,
            Op::GetGroup => app.get(&format!("/v1/groups/{}", self.group), token).await,
            Op::CreateGroup => {
                let name = format!("props-{}", NAMES.fetch_add(1, Ordering::Relaxed));
                app.post("/v1/groups", token, &json!({ "name": name })).await
            }
            Op::AddMember(t) => {
                let id = self.people[index(*t)].id.to_string();
                app.post(
                    &format!("/v1/groups/{}/members", self.group),
                    token,
                    &json!({ "user_ids": [id] }),
                )
                .await
            }
            Op::Members => app.get(&format!("/v1/groups/{}/members", self.group), token).await,
        };
        let status = response.status.as_u16();
        let context = format!("{step:?} answered {status}: {}", response.text);

        // Whatever the operation: a caller that may not act is refused, and sees nothing.
        if !may_act {
            prop_assert!(matches!(status, 401 | 403), "{context}");
            for p in &self.people {
                prop_assert!(!response.text.contains(&p.email), "a refusal leaks an email: {context}");
            }
            return Ok(());
        }
        let target = |t: &Who| index(*t);
        let expected: u16 = match &step.op {
            Op::GetMe => {
                let id = self.people[me].id.to_string();
                prop_assert_eq!(response.body["id"].as_str(), Some(id.as_str()));
                200
            }
            Op::PatchMe(n) => {
                if status == 200 {
                    self.people[me].name = Some(name(*n));
                }
                200
            }
            Op::GetUser(t) => {
                let t = target(t);
                if t == me || (is_admin && self.people[t].exists) {
                    200
                } else if is_admin {
                    404
                } else {
                    prop_assert!(
                        !response.text.contains(&self.people[t].email),
                        "a refused read leaks: {context}"
                    );
                    403
                }
            }
            Op::ListUsers => {
                if is_admin {
                    200
                } else {
                    for (i, p) in self.people.iter().enumerate() {
                        prop_assert!(i == me || !response.text.contains(&p.email), "{context}");
                    }
                    403
                }
            }
            Op::Rename(t, n) => {
                let t = target(t);
                if !is_admin {
                    403
                } else if !self.people[t].exists {
                    404
                } else {
                    self.people[t].name = Some(name(*n));
                    200
                }
            }
            Op::SetRole(t, role) => {
                let t = target(t);
                if !is_admin {
                    403
                } else if !self.people[t].exists {
                    404
                } else {
                    let before = self.people[t].may_sign_in();
                    self.people[t].role = *role;
                    if before && !self.people[t].may_sign_in() {
                        self.people[t].session_alive = false;
                    }
                    200
                }
            }
            Op::SetActive(t, active) => {
                let t = target(t);
                if !is_admin {
                    403
                } else if !self.people[t].exists {
                    404
                } else {
                    let before = self.people[t].may_sign_in();
                    self.people[t].active = *active;
                    if before && !self.people[t].may_sign_in() {
                        self.people[t].session_alive = false;
                    }
                    200
                }
            }
            Op::Delete(t) => {
                let t = target(t);
                if !is_admin || t == me {
                    403
                } else if !self.people[t].exists {
                    404
                } else {
                    let p = &mut self.people[t];
                    p.exists = false;
                    p.session_alive = false;
                    p.key_alive = false;
                    p.more_keys.clear();
                    p.member = false;
                    204
                }
            }
            Op::RevokeSessions(t) => {
                let t = target(t);
                if !is_admin {
                    403
                } else if !self.people[t].exists {
                    404
                } else {
                    self.people[t].session_alive = false;
                    200
                }
            }
            Op::ListSessions => {
                let mine = self.people[me].session.to_string();
                for s in response.body.as_array().into_iter().flatten() {
                    prop_assert_eq!(
                        s["id"].as_str(),
                        Some(mine.as_str()),
                        "only one's own sessions: {}",
                        &context
                    );
                }
                200
            }
            Op::DeleteSession(t) => {
                let t = target(t);
                if t == me && self.people[me].session_alive {
                    self.people[me].session_alive = false;
                    204
                } else {
                    404
                }
            }
            Op::CreateKey => {
                if status == 201 {
                    let id = response.body["id"].as_str().unwrap_or_default().to_string();
                    self.people[me].more_keys.push(id);
                }
                201
            }
            Op::ListKeys => {
                let p = &self.people[me];
                for k in response.body.as_array().into_iter().flatten() {
                    let id = k["id"].as_str().unwrap_or_default();
                    prop_assert!(
                        (id == p.key_id && p.key_alive) || p.more_keys.iter().any(|m| m == id),
                        "only one's own keys: {context}"
                    );
                }
                200
            }
            Op::DeleteKey(t) => {
                let t = target(t);
                if t == me && self.people[me].key_alive {
                    self.people[me].key_alive = false;
                    204
                } else {
                    404
                }
            }
            Op::ListGroups => {
                let listed = response.text.contains(&self.group.to_string());
                prop_assert_eq!(listed, is_admin || self.people[me].member, "{}", &context);
                200
            }
            Op::GetGroup => {
                if is_admin || self.people[me].member {
                    200
                } else {
                    404
                }
            }
            Op::CreateGroup => {
                if is_admin {
                    201
                } else {
                    403
                }
            }
            Op::AddMember(t) => {
                let t = target(t);
                if !is_admin {
                    403
                } else if !self.people[t].exists {
                    404
                } else {
                    self.people[t].member = true;
                    200
                }
            }
            Op::Members => {
                if is_admin {
                    for p in &self.people {
                        prop_assert_eq!(
                            response.text.contains(&p.id.to_string()),
                            p.member,
                            "members: {}",
                            &context
                        );
                    }
                    200
                } else {
                    403
                }
            }
        };
        prop_assert_eq!(status, expected, "{}", context);
        Ok(())
    }

    /// The store holds exactly what the model says.
    async fn check_state(&self, after: &Step) -> Result<(), TestCaseError> {
        let store = &self.app.core.store;
        let members = store.list_group_members(self.group).await.unwrap();
        for (who, p) in PEOPLE.iter().zip(&self.people) {
            let context = format!("{who:?} after {after:?}");
            match store.get_user(p.id).await {
                Ok(user) => {
                    prop_assert!(p.exists, "{} exists", context);
                    prop_assert_eq!(user.role, p.role, "role of {}", context);
                    prop_assert_eq!(user.active, p.active, "active of {}", context);
                    prop_assert_eq!(&user.name, &p.name, "name of {}", context);
                }
                Err(_) => prop_assert!(!p.exists, "{} is gone", context),
            }
            let session = store.get_session_with_user(p.session).await.is_ok();
            prop_assert_eq!(session, p.session_alive, "session of {}", context);
            let keys = store.list_api_keys(p.id).await.unwrap();
            let key_alive = keys.iter().any(|k| k.id.to_string() == p.key_id);
            prop_assert_eq!(key_alive, p.key_alive, "key of {}", context);
            prop_assert_eq!(
                keys.len(),
                usize::from(p.key_alive) + p.more_keys.len(),
                "keys of {}",
                context
            );
            prop_assert_eq!(members.contains(&p.id), p.member, "membership of {}", context);
        }
        Ok(())
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

async fn no_actor_exceeds_its_role(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    // The first account: the primary administrator, outside the cases.
    let root = app.admin().await;
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let steps_run = AtomicU32::new(0);
    let result = tokio::task::block_in_place(|| {
        runner.run(&steps(), |steps| {
            handle.block_on(async {
                let mut case = Case::new(&app, &root).await;
                for step in &steps {
                    case.step(step).await?;
                    case.check_state(step).await?;
                    steps_run.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let root_after = app.core.store.get_user(root.id).await.unwrap();
    assert_eq!(root_after.role, Role::Admin);
    eprintln!(
        "authorization property ({}): {} cases, {} steps, all held",
        backend.name(),
        cases(),
        steps_run.load(Ordering::Relaxed)
    );
}

backend_tests!(no_actor_exceeds_its_role);
