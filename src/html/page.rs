//! The HTML around the charts: one self-contained page (inline CSS, inline SVG, one small
//! inline script that needs nothing outside the page), tables beside the plots.

use plotters::style::RGBColor;

use super::chart::hex;

/// `s` with `& < > " '` escaped, for text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// A name usable in an `id`: ASCII letters, digits, `-` and `_` kept, anything else `-`.
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A table of text cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column names.
    pub head: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns and no rows.
    pub fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table's HTML.
    pub fn html(&self) -> String {
        let mut s = String::from("<table><thead><tr>");
        for h in &self.head {
            s.push_str(&format!("<th>{}</th>", esc(h)));
        }
        s.push_str("</tr></thead><tbody>\n");
        for r in &self.rows {
            s.push_str("<tr>");
            for c in r {
                s.push_str(&format!("<td>{}</td>", esc(c)));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody></table>");
        s
    }
}

/// One chart with its caption, legend and table.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The stable `id` (docs/report.md).
    pub id: String,
    /// Its heading.
    pub title: String,
    /// What it shows and from which file.
    pub caption: String,
    /// The SVG plotters drew.
    pub svg: String,
    /// Colour key: name and colour.
    pub legend: Vec<(String, RGBColor)>,
    /// The numbers beside the plot.
    pub table: Table,
}

impl Figure {
    fn html(&self) -> String {
        let mut s = format!(
            "<figure class=\"chart\" id=\"{}\">\n<figcaption><b>{}</b> {}</figcaption>\n<div class=\"body\">\n<div class=\"plot\">{}</div>\n<div class=\"side\">",
            esc(&self.id),
            esc(&self.title),
            esc(&self.caption),
            self.svg.trim()
        );
        if !self.legend.is_empty() {
            s.push_str("<ul class=\"legend\">");
            for (name, c) in &self.legend {
                s.push_str(&format!(
                    "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
                    hex(*c),
                    esc(name)
                ));
            }
            s.push_str("</ul>");
        }
        if !self.table.head.is_empty() {
            s.push_str("<div class=\"table\">");
            s.push_str(&self.table.html());
            s.push_str("</div>");
        }
        s.push_str("</div>\n</div>\n</figure>\n");
        s
    }
}

/// A titled part of the page: text, tables and figures in order.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Its heading.
    pub title: String,
    parts: Vec<String>,
}

impl Section {
    /// An empty section.
    pub fn new(title: impl Into<String>) -> Section {
        Section {
            title: title.into(),
            parts: Vec::new(),
        }
    }

    /// A paragraph of text.
    pub fn text(&mut self, t: &str) {
        self.parts.push(format!("<p>{}</p>\n", esc(t)));
    }

    /// A table on its own.
    pub fn table(&mut self, t: &Table) {
        self.parts
            .push(format!("<div class=\"table wide\">{}</div>\n", t.html()));
    }

    /// A figure.
    pub fn figure(&mut self, f: Figure) {
        self.parts.push(f.html());
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:16px;color:#222;background:#fff}\
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:28px}\
figure.chart{margin:18px 0;padding:8px;border:1px solid #ddd}\
figcaption{font-size:13px;margin-bottom:6px}\
.body{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}.plot{flex:none}\
.side{flex:1;min-width:280px}.table{max-height:420px;overflow:auto}.wide{max-height:none}\
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}\
th{background:#f2f2f2;position:sticky;top:0}ul.legend{list-style:none;padding:0;font-size:12px;margin:0 0 8px 0}\
.swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}";

/// Writes every chart's place on the page into `body`'s `data-layout` attribute (`id x y w
/// h;...`, CSS pixels from the page's top left) and the page height into `data-height`: what
/// the browser test needs to find each chart in a screenshot. Needs nothing outside the page.
const SCRIPT: &str = "(function(){var out=[];\
document.querySelectorAll('figure.chart').forEach(function(f){var s=f.querySelector('svg');\
if(!s){return;}var r=s.getBoundingClientRect();\
out.push([f.id,Math.round(r.left+window.scrollX),Math.round(r.top+window.scrollY),Math.round(r.width),Math.round(r.height)].join(' '));});\
document.body.setAttribute('data-layout',out.join(';'));\
document.body.setAttribute('data-height',String(document.documentElement.scrollHeight));})();";

/// The whole page.
pub fn page(title: &str, subtitle: &str, sections: &[Section]) -> String {
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p>{}</p>\n",
        esc(title),
        esc(title),
        esc(subtitle)
    );
    for sec in sections {
        s.push_str(&format!("<section>\n<h2>{}</h2>\n", esc(&sec.title)));
        for p in &sec.parts {
            s.push_str(p);
        }
        s.push_str("</section>\n");
    }
    s.push_str(&format!("<script>{SCRIPT}</script>\n</body>\n</html>\n"));
    s
}

/// A number for a table cell: up to 6 significant decimals, no trailing zeros.
pub fn num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// An optional number: blank when absent.
pub fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_default()
}
