package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// EnvVarPrefix prefixes the environment variables that set variables:
// OAUTHFORM_VAR_sms_secret sets var.sms_secret.
const EnvVarPrefix = "OAUTHFORM_VAR_"

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "sensitive"},
		{Name: "description"},
	},
}

// candidate is one value given for a variable from outside its block.
type candidate struct {
	source VariableSource
	// raw is the text of a -var or environment value.
	raw string
	// envName is the environment variable that gave raw.
	envName string
	// attr is the var-file attribute that gave the value.
	attr *hcl.Attribute
}

// decodeVariables is phase 2: variable blocks, then their values from
// -var, -var-file, OAUTHFORM_VAR_* and default, in that precedence.
func (l *loader) decodeVariables() {
	defaults := map[string]*hcl.Attribute{}
	badType := map[string]bool{}
	for _, b := range l.variables {
		v := &Variable{Name: b.Labels[0], Type: cty.String, DeclRange: b.DefRange}
		l.cfg.Variables[v.Name] = v
		content, diags := b.Body.Content(variableSchema)
		l.diags = append(l.diags, diags...)
		typeOK := true
		if attr, ok := content.Attributes["type"]; ok {
			ty, diags := typeexpr.TypeConstraint(attr.Expr)
			l.diags = append(l.diags, diags...)
			if diags.HasErrors() {
				typeOK = false
			} else {
				v.Type = ty
			}
		}
		if attr, ok := content.Attributes["sensitive"]; ok {
			v.Sensitive = l.staticBool(attr)
		}
		if attr, ok := content.Attributes["description"]; ok {
			v.Description = l.staticString(attr)
		}
		if !typeOK {
			// Its values cannot be checked; leave it without one (the
			// type error is reported) so uses are skipped quietly.
			v.Type = cty.DynamicPseudoType
			badType[v.Name] = true
			continue
		}
		if attr, ok := content.Attributes["default"]; ok {
			defaults[v.Name] = attr
		}
	}

	cli := l.cliValues()
	files := l.varFileValues()
	for _, b := range l.variables {
		v := l.cfg.Variables[b.Labels[0]]
		if badType[v.Name] {
			continue
		}
		var cands []candidate
		if c, ok := cli[v.Name]; ok {
			cands = append(cands, c)
		}
		if c, ok := files[v.Name]; ok {
			cands = append(cands, c)
		}
		if raw, ok := l.environ[EnvVarPrefix+v.Name]; ok {
			cands = append(cands, candidate{source: SourceEnv, raw: raw, envName: EnvVarPrefix + v.Name})
		}
		l.resolveVariable(v, cands, defaults[v.Name])
	}
}

// resolveVariable gives v the value of the first usable candidate, else
// its default, else reports that it has none.
func (l *loader) resolveVariable(v *Variable, cands []candidate, def *hcl.Attribute) {
	for _, c := range cands {
		val, ok := l.candidateValue(v, c)
		if !ok {
			return
		}
		if val.IsNull() {
			continue // null means "not set here"
		}
		v.Value, v.Source = val, c.source
		l.noteSecret(v)
		return
	}
	if def != nil {
		val, diags := def.Expr.Value(nil)
		if v.Sensitive {
			markSensitive(diags...)
		}
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			return
		}
		conv, err := convert.Convert(val, v.Type)
		if err != nil {
			d := errorAt(def.Expr.Range(), "Invalid default value for variable",
				"The default of var.%s is not a valid %s: %s.", v.Name, typeexpr.TypeString(v.Type), err)
			if v.Sensitive {
				markSensitive(d)
			}
			l.diags = append(l.diags, d)
			return
		}
		v.Value, v.Source = conv, SourceDefault
		l.noteSecret(v)
		return
	}
	if v.Sensitive && l.in.Validate {
		// validate runs without secrets: the value is unknown, so the
		// expressions that use it are type-checked and no more.
		v.Value = cty.UnknownVal(v.Type)
		return
	}
	l.diags = append(l.diags, errorAt(v.DeclRange, "No value for required variable",
		"The variable %q has no default and no value was given. Set it with -var '%s=...', in a -var-file, with the environment variable %s%s, or give the variable block a default.",
		v.Name, v.Name, EnvVarPrefix, v.Name))
}

// candidateValue converts one candidate to v's type.
func (l *loader) candidateValue(v *Variable, c candidate) (cty.Value, bool) {
	var val cty.Value
	var subject *hcl.Range
	if c.attr != nil {
		var diags hcl.Diagnostics
		val, diags = c.attr.Expr.Value(nil)
		if v.Sensitive {
			markSensitive(diags...)
		}
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			return cty.NilVal, false
		}
		subject = c.attr.Expr.Range().Ptr()
	} else if v.Type.IsPrimitiveType() {
		// A primitive takes the text as it is (-var port=8080 converts).
		val = cty.StringVal(c.raw)
	} else {
		expr, diags := hclsyntax.ParseExpression([]byte(c.raw), "<value for var."+v.Name+">", hcl.InitialPos)
		if !diags.HasErrors() {
			val, diags = expr.Value(nil)
		}
		if diags.HasErrors() {
			l.diags = append(l.diags, sourceless("Invalid value for variable",
				"The value of var.%s from %s is not a valid %s expression: %s.",
				v.Name, describeSource(c), typeexpr.TypeString(v.Type), diags.Errs()[0]))
			return cty.NilVal, false
		}
	}
	conv, err := convert.Convert(val, v.Type)
	if err != nil {
		d := sourceless("Invalid value for variable", "The value of var.%s from %s is not a valid %s: %s.",
			v.Name, describeSource(c), typeexpr.TypeString(v.Type), err)
		d.Subject = subject
		if v.Sensitive {
			markSensitive(d)
		}
		l.diags = append(l.diags, d)
		return cty.NilVal, false
	}
	return conv, true
}

func describeSource(c candidate) string {
	switch c.source {
	case SourceEnv:
		return "the environment variable " + c.envName
	case SourceVarFile:
		return "the -var-file " + c.attr.NameRange.Filename
	}
	return string(c.source)
}

// noteSecret remembers a sensitive variable's string values for scrubbing.
func (l *loader) noteSecret(v *Variable) {
	if !v.Sensitive {
		return
	}
	_ = cty.Walk(v.Value, func(_ cty.Path, val cty.Value) (bool, error) {
		if val.Type() == cty.String && val.IsKnown() && !val.IsNull() {
			l.secrets = append(l.secrets, val.AsString())
		}
		return true, nil
	})
}

// cliValues reads -var NAME=VALUE options; later wins.
func (l *loader) cliValues() map[string]candidate {
	out := map[string]candidate{}
	for i, opt := range l.in.Vars {
		name, raw, ok := strings.Cut(opt, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			// The option is not echoed: it may be a secret given without
			// its name.
			l.diags = append(l.diags, sourceless("Invalid -var option",
				"The -var option number %d of %d is not NAME=VALUE. Write it as -var 'NAME=VALUE', for example -var 'sms_secret=...'.",
				i+1, len(l.in.Vars)))
			continue
		}
		if _, declared := l.cfg.Variables[name]; !declared {
			l.diags = append(l.diags, sourceless("Value for undeclared variable",
				"A value was given with -var for %q, but no variable %q block declares it.%s",
				name, name, l.didYouMeanVar(name)))
			continue
		}
		out[name] = candidate{source: SourceCLI, raw: raw}
	}
	return out
}

func (l *loader) didYouMeanVar(name string) string {
	if s := suggest(name, sortedKeys(l.cfg.Variables)); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

// varFileValues reads the -var-file files in order; later wins. A value
// for an undeclared variable is a warning, as a shared file may set
// variables other configurations use.
func (l *loader) varFileValues() map[string]candidate {
	out := map[string]candidate{}
	for _, path := range l.in.VarFiles {
		f, diags := parseVarFile(l.parser, path)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() || f == nil {
			continue
		}
		attrs, diags := f.Body.JustAttributes()
		l.diags = append(l.diags, diags...)
		for _, attr := range sortedAttrs(attrs) {
			if _, declared := l.cfg.Variables[attr.Name]; !declared {
				l.diags = append(l.diags, warningAt(attr.NameRange, "Value for undeclared variable",
					"The -var-file %s sets %q, but no variable %q block declares it, so the value is ignored.%s",
					path, attr.Name, attr.Name, l.didYouMeanVar(attr.Name)))
				continue
			}
			out[attr.Name] = candidate{source: SourceVarFile, attr: attr}
		}
	}
	return out
}

// parseVarFile parses a -var-file (JSON when its name ends in .json),
// with a read error that names the flag. It is read like file(): a pipe
// will do, up to MaxConfigSize.
func parseVarFile(p *hclparse.Parser, path string) (*hcl.File, hcl.Diagnostics) {
	src, err := readAny(path)
	if err != nil {
		return nil, hcl.Diagnostics{sourceless("Failed to read variables file",
			"The -var-file %q could not be read: %s.", path, err)}
	}
	if d := notText(path, src, "Variables files", "Check the file given to -var-file."); d != nil {
		// Not parsed nor kept, so no snippet quotes the line, which may
		// hold a sensitive value in a legacy encoding.
		return nil, hcl.Diagnostics{d}
	}
	if strings.HasSuffix(path, ".json") {
		return p.ParseJSON(src, path)
	}
	return p.ParseHCL(src, path)
}

// staticBool evaluates a literal bool (variable blocks are decoded before
// there is an EvalContext).
func (l *loader) staticBool(attr *hcl.Attribute) bool {
	val, diags := attr.Expr.Value(nil)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return false
	}
	b, err := convert.Convert(val, cty.Bool)
	if err != nil || b.IsNull() || !b.IsKnown() {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Incorrect attribute value type",
			"Inappropriate value for attribute %q: bool required.", attr.Name))
		return false
	}
	return b.True()
}

// staticString evaluates a literal string.
func (l *loader) staticString(attr *hcl.Attribute) string {
	val, diags := attr.Expr.Value(nil)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return ""
	}
	s, err := convert.Convert(val, cty.String)
	if err != nil || s.IsNull() || !s.IsKnown() {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Incorrect attribute value type",
			"Inappropriate value for attribute %q: string required.", attr.Name))
		return ""
	}
	return s.AsString()
}
