package grant

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
)

// page is what the loopback listener shows the person. Nothing secret is
// ever put in one: Detail is an error message already scrubbed.
type page struct {
	OK      bool
	Title   string
	Message string
	Detail  string
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · oauthform</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40em; margin: 4em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; }
.ok { color: #17692e; }
.fail { color: #a3160b; }
pre { white-space: pre-wrap; background: #f4f4f4; padding: .8em; }
</style>
</head>
<body>
<h1 class="{{if .OK}}ok{{else}}fail{{end}}">{{.Title}}</h1>
<p>{{.Message}}</p>
{{- with .Detail}}
<pre>{{.}}</pre>
{{- end}}
<p><small>oauthform</small></p>
</body>
</html>
`))

// writePage renders p with status. The page is rendered in full before
// anything is written, so a template error cannot leave half a page.
func writePage(w http.ResponseWriter, status int, p page) {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		http.Error(w, p.Title, status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
