package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// sensitive is the cty mark carried by the values of sensitive variables
// and everything computed from them.
type sensitiveMark struct{}

var sensitive = sensitiveMark{}

// evalContext is phase 3: var.* and the functions.
func (l *loader) evalContext() *hcl.EvalContext {
	vars := make(map[string]cty.Value, len(l.cfg.Variables))
	for name, v := range l.cfg.Variables {
		val := v.Value
		if val == cty.NilVal {
			// No usable value (already an error): expressions that use it
			// become unknown and are skipped without follow-on errors.
			val = cty.DynamicVal
		}
		if v.Sensitive {
			val = val.Mark(sensitive)
		}
		vars[name] = val
	}
	funcs := make(map[string]function.Function, len(stdFuncs)+2)
	for k, f := range stdFuncs {
		funcs[k] = f
	}
	funcs["env"] = envFunc(l.environ, l.noteEnv)
	funcs["file"] = fileFunc(l.dir, l.noteFile)
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)},
		Functions: funcs,
	}
}

// stdFuncs are go-cty's stdlib functions under the names Terraform users
// know.
var stdFuncs = map[string]function.Function{
	"abs":             stdlib.AbsoluteFunc,
	"can":             tryfunc.CanFunc,
	"ceil":            stdlib.CeilFunc,
	"chomp":           stdlib.ChompFunc,
	"chunklist":       stdlib.ChunklistFunc,
	"coalesce":        stdlib.CoalesceFunc,
	"coalescelist":    stdlib.CoalesceListFunc,
	"compact":         stdlib.CompactFunc,
	"concat":          stdlib.ConcatFunc,
	"contains":        stdlib.ContainsFunc,
	"csvdecode":       stdlib.CSVDecodeFunc,
	"distinct":        stdlib.DistinctFunc,
	"element":         stdlib.ElementFunc,
	"flatten":         stdlib.FlattenFunc,
	"floor":           stdlib.FloorFunc,
	"format":          stdlib.FormatFunc,
	"formatdate":      stdlib.FormatDateFunc,
	"formatlist":      stdlib.FormatListFunc,
	"indent":          stdlib.IndentFunc,
	"join":            stdlib.JoinFunc,
	"jsondecode":      stdlib.JSONDecodeFunc,
	"jsonencode":      stdlib.JSONEncodeFunc,
	"keys":            stdlib.KeysFunc,
	"length":          lengthFunc,
	"log":             stdlib.LogFunc,
	"lookup":          stdlib.LookupFunc,
	"lower":           stdlib.LowerFunc,
	"max":             stdlib.MaxFunc,
	"merge":           stdlib.MergeFunc,
	"min":             stdlib.MinFunc,
	"parseint":        stdlib.ParseIntFunc,
	"pow":             stdlib.PowFunc,
	"range":           stdlib.RangeFunc,
	"regex":           stdlib.RegexFunc,
	"regexall":        stdlib.RegexAllFunc,
	"replace":         stdlib.ReplaceFunc,
	"reverse":         stdlib.ReverseListFunc,
	"setintersection": stdlib.SetIntersectionFunc,
	"setproduct":      stdlib.SetProductFunc,
	"setsubtract":     stdlib.SetSubtractFunc,
	"setunion":        stdlib.SetUnionFunc,
	"signum":          stdlib.SignumFunc,
	"slice":           stdlib.SliceFunc,
	"sort":            stdlib.SortFunc,
	"split":           stdlib.SplitFunc,
	"strrev":          stdlib.ReverseFunc,
	"substr":          stdlib.SubstrFunc,
	"timeadd":         stdlib.TimeAddFunc,
	"title":           stdlib.TitleFunc,
	"tobool":          stdlib.MakeToFunc(cty.Bool),
	"tolist":          stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
	"tomap":           stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
	"tonumber":        stdlib.MakeToFunc(cty.Number),
	"toset":           stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
	"tostring":        stdlib.MakeToFunc(cty.String),
	"trim":            stdlib.TrimFunc,
	"trimprefix":      stdlib.TrimPrefixFunc,
	"trimspace":       stdlib.TrimSpaceFunc,
	"trimsuffix":      stdlib.TrimSuffixFunc,
	"try":             tryfunc.TryFunc,
	"upper":           stdlib.UpperFunc,
	"values":          stdlib.ValuesFunc,
	"zipmap":          stdlib.ZipmapFunc,
}

// lengthFunc is Terraform's length: characters of a string, elements of
// a collection (stdlib's LengthFunc takes collections only).
var lengthFunc = function.New(&function.Spec{
	Description: "Returns the number of characters in a string or elements in a collection.",
	Params: []function.Parameter{{
		Name:             "value",
		Type:             cty.DynamicPseudoType,
		AllowDynamicType: true,
		AllowUnknown:     true,
		AllowMarked:      true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		if ty == cty.String || ty == cty.DynamicPseudoType || ty.IsCollectionType() || ty.IsTupleType() || ty.IsObjectType() {
			return cty.Number, nil
		}
		return cty.NilType, function.NewArgErrorf(0, "argument must be a string, a collection type, or a structural type")
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, marks := args[0].Unmark()
		switch {
		case !v.IsKnown():
			return cty.UnknownVal(cty.Number).WithMarks(marks), nil
		case v.IsNull():
			return cty.NilVal, function.NewArgErrorf(0, "argument must not be null")
		case v.Type() == cty.String:
			n, err := stdlib.Strlen(v)
			return n.WithMarks(marks), err
		case v.Type().IsObjectType():
			return cty.NumberIntVal(int64(len(v.Type().AttributeTypes()))).WithMarks(marks), nil
		default:
			return v.Length().WithMarks(marks), nil
		}
	},
})

// envFunc is env(NAME[, DEFAULT]): an environment variable, its default
// when unset, and an error when unset without a default. note, when not
// nil, is told every variable read (for the configuration cache).
func envFunc(environ map[string]string, note func(name string)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or the default when it is unset.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, function.NewArgErrorf(2, "env takes a name and at most one default")
			}
			name := args[0].AsString()
			if note != nil {
				note(name)
			}
			if v, ok := environ[name]; ok {
				return cty.StringVal(v), nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return cty.NilVal, function.NewArgErrorf(0,
				"environment variable %q is not set; set it, or give a default: env(%q, \"...\")", name, name)
		},
	})
}

// fileFunc is file(PATH): a file's contents as a string, PATH relative
// to the configuration directory. note, when not nil, is told every file
// read and what was read (for the configuration cache).
func fileFunc(dir string, note func(path string, content []byte, err error)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the contents of a file, relative to the configuration directory.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := readAny(p)
			if note != nil {
				note(p, b, err)
			}
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "cannot read %s: %s", p, strings.TrimPrefix(err.Error(), "open "+p+": "))
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

// attrValue evaluates attr in the load's EvalContext and converts it to
// ty. ok is false when the value cannot be used: an error was reported,
// or the value is unknown because of an earlier error (a variable without
// a value) or because validate has no value for a sensitive variable,
// which is skipped silently once its type is checked. A null value is returned with ok
// true. allowSensitive admits values computed from sensitive variables,
// which only secret-holding attributes may do; the result is unmarked.
func (l *loader) attrValue(attr *hcl.Attribute, ty cty.Type, allowSensitive bool) (cty.Value, bool) {
	if allowSensitive {
		// A secret's inputs are not recorded for the cache: secrets are
		// decoded afresh by every load (see cache.go).
		l.inSecret++
		defer func() { l.inSecret-- }()
	}
	sensitiveRefs, ok := l.checkRefs(attr.Expr)
	if !ok {
		return cty.NilVal, false
	}
	val, diags := attr.Expr.Value(l.ctx)
	if len(sensitiveRefs) > 0 {
		hideFunctionErrors(diags, sensitiveRefs)
	}
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if val.ContainsMarked() {
		if !allowSensitive {
			what := "This value is sensitive"
			if len(sensitiveRefs) > 0 {
				what = "var." + strings.Join(sensitiveRefs, ", var.") + " is sensitive"
			}
			l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Sensitive value not allowed",
				"%s and would be printed in plans; use it only in client_secret, in encryption's passphrase or in a backend's conn_str. The %s argument is not secret.",
				what, attr.Name))
			return cty.NilVal, false
		}
		val, _ = val.UnmarkDeep()
	}
	// Converted before the known check: an unknown value (a sensitive
	// variable validate has no value for) still has a type to check.
	conv, err := convert.Convert(val, ty)
	if err != nil {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Incorrect attribute value type",
			"Inappropriate value for attribute %q: %s.", attr.Name, err))
		return cty.NilVal, false
	}
	if !conv.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return conv, true
}

// checkRefs reports references to undeclared variables (which HCL would
// call an unsupported attribute of an object) and returns the sensitive
// variables expr uses.
func (l *loader) checkRefs(expr hcl.Expression) (sensitiveRefs []string, ok bool) {
	ok = true
	for _, tr := range expr.Variables() {
		if tr.RootName() != "var" || len(tr) < 2 {
			continue
		}
		var name string
		switch step := tr[1].(type) {
		case hcl.TraverseAttr:
			name = step.Name
		case hcl.TraverseIndex:
			if step.Key.Type() == cty.String && step.Key.IsKnown() && !step.Key.IsNull() {
				name = step.Key.AsString()
			}
		}
		if name == "" {
			continue
		}
		v, declared := l.cfg.Variables[name]
		if !declared {
			detail := fmt.Sprintf("No variable named %q is declared.", name)
			if s := suggest(name, sortedKeys(l.cfg.Variables)); s != "" {
				detail += fmt.Sprintf(" Did you mean var.%s?", s)
			} else {
				detail += fmt.Sprintf(" Declare it with a variable %q block.", name)
			}
			l.diags = append(l.diags, errorAt(tr.SourceRange(), "Reference to undeclared variable", "%s", detail))
			ok = false
			continue
		}
		if v.Sensitive && !slices.Contains(sensitiveRefs, name) {
			sensitiveRefs = append(sensitiveRefs, name)
		}
	}
	return sensitiveRefs, ok
}

// hideFunctionErrors blanks the details of function errors in an
// expression that uses sensitive variables: a function's message may
// quote its argument.
func hideFunctionErrors(diags hcl.Diagnostics, refs []string) {
	for _, d := range diags {
		switch d.Summary {
		case "Error in function call", "Invalid function argument":
			d.Detail = fmt.Sprintf("A function call failed; its message is hidden because its arguments include the sensitive var.%s.",
				strings.Join(refs, ", var."))
		}
	}
}

// attrString evaluates attr as a string. set is false for null.
func (l *loader) attrString(attr *hcl.Attribute, allowSensitive bool) (s string, set, ok bool) {
	if lit, isLit := literalString(attr.Expr); isLit {
		return lit, true, true
	}
	v, ok := l.attrValue(attr, cty.String, allowSensitive)
	if !ok || v.IsNull() {
		return "", false, ok
	}
	return v.AsString(), true, true
}

// attrStrings evaluates attr as list(string); null elements are an error.
func (l *loader) attrStrings(attr *hcl.Attribute) (list []string, set, ok bool) {
	if tuple, isTuple := attr.Expr.(*hclsyntax.TupleConsExpr); isTuple {
		list = make([]string, 0, len(tuple.Exprs))
		for _, e := range tuple.Exprs {
			lit, isLit := literalString(e)
			if !isLit {
				list = nil
				break
			}
			list = append(list, lit)
		}
		if list != nil {
			return list, true, true
		}
	}
	v, ok := l.attrValue(attr, cty.List(cty.String), false)
	if !ok || v.IsNull() {
		return nil, false, ok
	}
	list = make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Incorrect attribute value type",
				"Inappropriate value for attribute %q: the list must not contain null.", attr.Name))
			return nil, false, false
		}
		list = append(list, e.AsString())
	}
	return list, true, true
}

// attrStringMap evaluates attr as map(string); null values are an error.
func (l *loader) attrStringMap(attr *hcl.Attribute) (m map[string]string, set, ok bool) {
	if lit, isLit := literalStringMap(attr.Expr); isLit {
		return lit, true, true
	}
	v, ok := l.attrValue(attr, cty.Map(cty.String), false)
	if !ok || v.IsNull() {
		return nil, false, ok
	}
	m = make(map[string]string, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Incorrect attribute value type",
				"Inappropriate value for attribute %q: the value of %q must not be null.", attr.Name, k.AsString()))
			return nil, false, false
		}
		m[k.AsString()] = e.AsString()
	}
	return m, true, true
}

// attrBool evaluates attr as a bool. set is false for null.
func (l *loader) attrBool(attr *hcl.Attribute) (b, set, ok bool) {
	v, ok := l.attrValue(attr, cty.Bool, false)
	if !ok || v.IsNull() {
		return false, false, ok
	}
	return v.True(), true, true
}

// literalStringMap returns the value of an object whose keys are bare
// words or plain quoted strings and whose values are plain quoted strings
// ({ audience = "api" }), as literalString does for a string: evaluating
// it as a cty map costs more than the rest of a large configuration's
// params. Anything else (an interpolation, a duplicate key) is left to
// evaluation.
func literalStringMap(expr hcl.Expression) (map[string]string, bool) {
	obj, ok := expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil, false
	}
	m := make(map[string]string, len(obj.Items))
	for _, item := range obj.Items {
		keyExpr, ok := item.KeyExpr.(*hclsyntax.ObjectConsKeyExpr)
		if !ok || keyExpr.ForceNonLiteral {
			return nil, false
		}
		var key string
		if tr, isTraversal := keyExpr.Wrapped.(*hclsyntax.ScopeTraversalExpr); isTraversal && len(tr.Traversal) == 1 {
			key = tr.Traversal.RootName()
		} else if key, ok = literalString(keyExpr.Wrapped); !ok {
			return nil, false
		}
		value, ok := literalString(item.ValueExpr)
		if _, dup := m[key]; dup || !ok {
			return nil, false
		}
		m[key] = value
	}
	return m, true
}

// literalString returns the value of a plain quoted string with no
// interpolation ("10m", "sms"). Most attributes of a large configuration
// are such literals; taking them straight from the syntax tree skips
// evaluation and type conversion, which gives the same result for them.
func literalString(expr hcl.Expression) (string, bool) {
	t, ok := expr.(*hclsyntax.TemplateExpr)
	if !ok || len(t.Parts) != 1 {
		return "", false
	}
	lit, ok := t.Parts[0].(*hclsyntax.LiteralValueExpr)
	if !ok || lit.Val.Type() != cty.String || lit.Val.IsNull() || !lit.Val.IsKnown() {
		return "", false
	}
	return lit.Val.AsString(), true
}
