package chat

import (
	"html"
	"regexp"
	"strings"
)

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")

// escapeString is markupsafe's escape of a plain string.
func escapeString(s string) string { return htmlEscaper.Replace(s) }

// escapeValue is markupsafe.escape(v): Markup stays as is, anything else is
// converted with str() and escaped.
func escapeValue(v Value) Markup {
	if m, ok := v.(Markup); ok {
		return m
	}
	return Markup(escapeString(str(v)))
}

// unescapeHTML is Markup.unescape.
func unescapeHTML(s string) string { return html.UnescapeString(s) }

var (
	commentRE = regexp.MustCompile(`(?s)<!--.*?-->`)
	tagRE     = regexp.MustCompile(`(?s)<.*?>`)
)

// stripTags is Markup.striptags: remove comments and tags, unescape,
// collapse whitespace.
func stripTags(s string) string {
	s = commentRE.ReplaceAllString(s, "")
	s = tagRE.ReplaceAllString(s, "")
	s = strings.Join(strings.Fields(s), " ")
	return unescapeHTML(s)
}
