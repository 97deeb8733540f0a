//! The credits page (`/account/credits`): the balance and its ledger.

use super::view::Table;
use super::*;
use roster_core::store::BalanceKind;

pub(super) async fn credits_panels(ctx: &Ctx) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let actor = ctx.session.actor();
    let balance = ctx.state.core.balance_details(&actor).await?;
    let ledger = ctx.state.core.my_balance_transactions(&actor, LEDGER_SHOWN).await?;
    let summary = Panel::plain().paragraph(fill(a.credits_balance, &[("credits", &balance.credits.to_string())]));
    let mut history = Panel::headed("credits-history", a.credits_history_heading);
    if ledger.is_empty() {
        history = history.paragraph(a.credits_history_none);
    } else {
        history.table = Some(Table {
            caption: a.credits_history_heading.to_string(),
            head: vec![
                a.key_created.to_string(),
                a.credits_title.to_string(),
                String::from("±"),
            ],
            rows: ledger
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
    Ok(vec![summary, history])
}
