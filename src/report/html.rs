//! One self-contained HTML page for a set of runs: what `neurons report` and `neurons tour`
//! write. Pictures are inlined as base64 PNG and the style is in the page, so that it opens
//! offline, prints, and asks nothing of the network. It knows no lab: the caller fills a [`Page`].
//!
//! The page is a few fixed tags around escaped text, written by hand: a template engine would
//! bring a language of its own for less than a hundred lines.

use std::fmt::Write;

use base64::Engine;

/// The whole page: an overview table, then one section per run in the lecture's order.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub title: String,
    /// A line under the title (what made the page, when).
    pub subtitle: String,
    pub sections: Vec<Section>,
}

/// How a run's headline figure stands against its reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// At the figure the defaults reach, or better.
    Meets,
    /// Worse than that figure: the page says so.
    Short,
    /// Made with `--quick`: reduced settings, not comparable.
    Quick,
    /// Not on the data the reference is for, or no figure to compare.
    NotCompared,
    /// The run did not finish.
    Failed,
}

impl Mark {
    fn label(self) -> (&'static str, &'static str) {
        match self {
            Mark::Meets => ("meets", "✓ meets"),
            Mark::Short => ("short", "✗ falls short"),
            Mark::Quick => ("quick", "quick run"),
            Mark::NotCompared => ("other", "not compared"),
            Mark::Failed => ("failed", "✗ failed"),
        }
    }
}

/// One run: its lab, the slide, what was run and what it gave.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// The lab's name, also the section's anchor.
    pub lab: String,
    /// The slide's title.
    pub chapter: String,
    pub formula: String,
    pub shows: String,
    /// Where the run is.
    pub run_dir: String,
    /// The effective settings, `table.key` and value.
    pub settings: Vec<(String, String)>,
    /// The final figures of `summary.json`.
    pub figures: Vec<(String, String)>,
    /// The headline figure: its name and value as text.
    pub headline: Option<(String, String)>,
    /// What the defaults reach, and the outside figure it stands beside.
    pub expected: String,
    pub compared_with: String,
    pub mark: Option<Mark>,
    pub seconds: Option<f64>,
    /// Why the run has no results, when it failed.
    pub error: Option<String>,
    pub pictures: Vec<Picture>,
}

/// A PNG of the run, with its caption.
#[derive(Debug, Clone)]
pub struct Picture {
    pub caption: String,
    pub png: Vec<u8>,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } .subtitle { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
section { border-top: 2px solid #ddd; margin-top: 2rem; padding-top: 0.5rem; page-break-inside: avoid; }
.formula { font-family: 'DejaVu Serif', Georgia, serif; font-size: 1.1rem; background: #f8f8f8; padding: 0.4rem 0.8rem; display: inline-block; }
.mark-meets { color: #17702e; } .mark-short, .mark-failed { color: #b3261e; font-weight: bold; }
.mark-quick, .mark-other { color: #666; }
.columns { display: flex; gap: 2rem; flex-wrap: wrap; }
figure { display: inline-block; margin: 0.5rem 1rem 0.5rem 0; max-width: 100%; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9rem; }
.error { color: #b3261e; font-family: monospace; white-space: pre-wrap; }
@media print { section { page-break-before: always; } figure img { max-width: 48%; } }
";

impl Page {
    /// The page as one HTML document.
    pub fn to_html(&self) -> String {
        let mut html = String::new();
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n",
            escape(&self.title),
            escape(&self.title),
            escape(&self.subtitle)
        );
        self.overview(&mut html);
        for section in &self.sections {
            section.write(&mut html);
        }
        html.push_str("</body>\n</html>\n");
        html
    }

    fn overview(&self, html: &mut String) {
        html.push_str("<table class=\"overview\">\n<tr><th>lab</th><th>slide</th><th>result</th><th>the defaults reach</th><th>compared with</th><th></th><th>time</th></tr>\n");
        for s in &self.sections {
            let result = s
                .headline
                .as_ref()
                .map(|(name, value)| format!("{} {}", escape(name), escape(value)))
                .unwrap_or_default();
            let (class, label) = s.mark.map(Mark::label).unwrap_or(("other", ""));
            let _ = writeln!(
                html,
                "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{result}</td><td>{}</td><td>{}</td><td class=\"mark-{class}\">{label}</td><td>{}</td></tr>",
                escape(&s.lab),
                escape(&s.lab),
                escape(&s.chapter),
                escape(&s.expected),
                escape(&s.compared_with),
                s.seconds.map(seconds).unwrap_or_default()
            );
        }
        html.push_str("</table>\n");
    }
}

/// A duration as people say it: 0.4 s, 12 s, 2 min 5 s.
fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else {
        format!("{} min {:.0} s", (s / 60.0) as u64, s % 60.0)
    }
}

impl Section {
    fn write(&self, html: &mut String) {
        let _ = write!(
            html,
            "<section id=\"{}\">\n<h2>{} <small>({})</small></h2>\n<p>{}</p>\n<p class=\"formula\">{}</p>\n<p>run directory: <code>{}</code></p>\n",
            escape(&self.lab),
            escape(&self.chapter),
            escape(&self.lab),
            escape(&self.shows),
            escape(&self.formula),
            escape(&self.run_dir)
        );
        if let Some(error) = &self.error {
            let _ = writeln!(html, "<p class=\"error\">{}</p>", escape(error));
        }
        html.push_str("<div class=\"columns\">\n");
        table(html, "what was run", &self.settings);
        let mut figures = self.figures.clone();
        if let Some(s) = self.seconds {
            figures.push(("training time".to_string(), seconds(s)));
        }
        figures.push(("the defaults reach".to_string(), self.expected.clone()));
        figures.push(("compared with".to_string(), self.compared_with.clone()));
        table(html, "what it gave", &figures);
        html.push_str("</div>\n");
        for picture in &self.pictures {
            let data = base64::engine::general_purpose::STANDARD.encode(&picture.png);
            let _ = writeln!(
                html,
                "<figure><img alt=\"{}\" src=\"data:image/png;base64,{data}\"><figcaption>{}</figcaption></figure>",
                escape(&picture.caption),
                escape(&picture.caption)
            );
        }
        html.push_str("</section>\n");
    }
}

fn table(html: &mut String, title: &str, rows: &[(String, String)]) {
    let _ = writeln!(
        html,
        "<table><tr><th colspan=\"2\">{}</th></tr>",
        escape(title)
    );
    for (key, value) in rows {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(key),
            escape(value)
        );
    }
    html.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_pictures_are_inlined() {
        let page = Page {
            title: "a <b> & c".to_string(),
            subtitle: String::new(),
            sections: vec![Section {
                lab: "cnn".to_string(),
                chapter: "CNN".to_string(),
                formula: "x < y".to_string(),
                pictures: vec![Picture {
                    caption: "loss \"curves\"".to_string(),
                    png: vec![0x89, b'P', b'N', b'G'],
                }],
                mark: Some(Mark::Short),
                ..Default::default()
            }],
        };
        let html = page.to_html();
        assert!(
            html.contains("<title>a &lt;b&gt; &amp; c</title>"),
            "{html}"
        );
        assert!(html.contains("x &lt; y"));
        assert!(
            html.contains("src=\"data:image/png;base64,iVBORw==\""),
            "{html}"
        );
        assert!(html.contains("alt=\"loss &quot;curves&quot;\""));
        assert!(html.contains("✗ falls short"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
