//! The credits page (`/account/credits`): the balance and its ledger, in keyset pages
//! ("Older transactions", the `ledger` cursor), read and paged as the administrator's page of
//! a user reads and pages it ([`crate::pages::ledger`]).

use super::view::{Pager, Table};
use super::*;
use crate::pages::ledger::{self, LedgerPage};
use roster_core::store::BalanceKind;

pub(super) async fn credits_panels(ctx: &Ctx, view: &View) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let actor = ctx.session.actor();
    let balance = ctx.state.core.balance_details(&actor).await?;
    let before = ledger::parse_cursor(&view.ledger)?;
    let read = ctx
        .state
        .core
        .my_balance_transactions(&actor, before, LEDGER_PAGE + 1)
        .await?;
    let page = LedgerPage::new(read, LEDGER_PAGE, CREDITS_PATH, "credits-history-heading", &view.ledger);
    let summary = Panel::plain().paragraph(fill(a.credits_balance, &[("credits", &balance.credits.to_string())]));
    let mut history = Panel::headed("credits-history", a.credits_history_heading);
    if page.transactions.is_empty() {
        history = history.paragraph(a.credits_history_none);
    } else {
        history.table = Some(Table {
            caption: a.credits_history_heading.to_string(),
            head: vec![
                a.key_created.to_string(),
                a.credits_title.to_string(),
                String::from("±"),
            ],
            rows: page
                .transactions
                .into_iter()
                .map(|t| {
                    let kind = match t.kind {
                        BalanceKind::StartGrant => a.kind_start_grant,
                        BalanceKind::Spend => a.kind_spend,
                        BalanceKind::Refill => a.kind_refill,
                        BalanceKind::Adjustment => a.kind_adjustment,
                    };
                    let amount = if t.amount > 0 {
                        format!("+{}", t.amount)
                    } else {
                        t.amount.to_string()
                    };
                    vec![when(t.created_at), kind.to_string(), amount]
                })
                .collect(),
        });
    }
    let links: Vec<(String, &'static str)> = [(page.newest, a.credits_newest), (page.older, a.credits_older)]
        .into_iter()
        .filter_map(|(href, text)| href.map(|href| (href, text)))
        .collect();
    if !links.is_empty() {
        history.pager = Some(Pager {
            label: a.credits_pages,
            links,
        });
    }
    Ok(vec![summary, history])
}
