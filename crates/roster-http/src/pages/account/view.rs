//! What an account page is made of: the navigation, panels (a heading, paragraphs, facts, a
//! QR code, a secret, codes, a table, items with their forms) and forms with buttons. One
//! template (`templates/pages/account/page.html`) renders them all.

use crate::pages::render::{Chrome, Field};
use askama::Template;

/// A link of the account navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub text: &'static str,
    pub current: bool,
}

/// A submit button; with a `value`, it is sent as `action=<value>`.
#[derive(Debug, Clone)]
pub struct Button {
    pub value: &'static str,
    pub text: String,
    pub secondary: bool,
}

impl Button {
    pub fn primary(text: impl Into<String>) -> Self {
        Button {
            value: "",
            text: text.into(),
            secondary: false,
        }
    }

    pub fn secondary(text: impl Into<String>) -> Self {
        Button {
            secondary: true,
            ..Button::primary(text)
        }
    }

    pub fn action(mut self, value: &'static str) -> Self {
        self.value = value;
        self
    }
}

/// A form of a panel or an item.
#[derive(Debug, Clone)]
pub struct PanelForm {
    pub action: &'static str,
    /// The CSRF token first, then what the action needs (an id).
    pub hidden: Vec<(&'static str, String)>,
    pub fields: Vec<Field>,
    pub buttons: Vec<Button>,
    /// `multipart/form-data` (a file upload).
    pub multipart: bool,
}

impl PanelForm {
    pub fn new(action: &'static str, csrf: &str, button: Button) -> Self {
        PanelForm {
            action,
            hidden: vec![(crate::pages::csrf::CSRF_FIELD, csrf.to_string())],
            fields: Vec::new(),
            buttons: vec![button],
            multipart: false,
        }
    }

    pub fn hidden(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.hidden.push((name, value.into()));
        self
    }

    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    pub fn button(mut self, button: Button) -> Self {
        self.buttons.push(button);
        self
    }

    pub fn multipart(mut self) -> Self {
        self.multipart = true;
        self
    }
}

/// A QR code: the SVG Roster drew and what it shows, in words.
#[derive(Debug, Clone)]
pub struct Qr {
    pub svg: String,
    pub label: String,
}

/// A table with a caption and column headings.
#[derive(Debug, Clone)]
pub struct Table {
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Links between the pages of a long list (a `nav` labelled `label`).
#[derive(Debug, Clone)]
pub struct Pager {
    pub label: &'static str,
    /// Each link's address and text.
    pub links: Vec<(String, &'static str)>,
}

/// One of a list's entries (a session, a key): a heading, facts, forms.
#[derive(Debug, Clone)]
pub struct Item {
    pub heading: String,
    pub facts: Vec<(String, String)>,
    pub forms: Vec<PanelForm>,
}

/// A section of a page.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub id: Option<&'static str>,
    pub heading: Option<String>,
    pub heading_id: String,
    pub paragraphs: Vec<String>,
    /// An image on Roster (its path) and its text alternative.
    pub image: Option<(String, String)>,
    pub facts: Vec<(String, String)>,
    pub qr: Option<Qr>,
    /// Label, value and the id of the element that holds the value.
    pub secret: Option<(String, String, &'static str)>,
    pub codes: Vec<String>,
    pub codes_id: &'static str,
    pub table: Option<Table>,
    /// The links to the table's other pages.
    pub pager: Option<Pager>,
    pub items: Vec<Item>,
    pub forms: Vec<PanelForm>,
}

impl Panel {
    /// A panel headed `heading`, its section known by `id`.
    pub fn headed(id: &'static str, heading: impl Into<String>) -> Self {
        Panel {
            id: Some(id),
            heading: Some(heading.into()),
            heading_id: format!("{id}-heading"),
            codes_id: "codes",
            ..Default::default()
        }
    }

    /// A panel without a heading (the page's own content).
    pub fn plain() -> Self {
        Panel {
            codes_id: "codes",
            ..Default::default()
        }
    }

    pub fn paragraph(mut self, text: impl Into<String>) -> Self {
        self.paragraphs.push(text.into());
        self
    }

    pub fn fact(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.facts.push((name.into(), value.into()));
        self
    }

    pub fn form(mut self, form: PanelForm) -> Self {
        self.forms.push(form);
        self
    }
}

/// An account page.
#[derive(Template)]
#[template(path = "pages/account/page.html")]
pub struct AccountPage {
    pub chrome: Chrome,
    pub nav_label: &'static str,
    pub signed_in_as: String,
    pub nav: Vec<NavItem>,
    /// What the last action did (`role="status"`).
    pub notice: Option<String>,
    pub panels: Vec<Panel>,
    /// The words of the copy buttons the script adds next to what is shown once.
    pub copy: &'static str,
    pub copied: &'static str,
}
