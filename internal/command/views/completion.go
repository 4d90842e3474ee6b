package views

// CompletionScript returns the completion script of shell (bash, zsh or
// fish), or "" for another shell. Each script asks `oauthform __complete`
// for the candidates, so that connection names come from the
// configuration of the directory being completed in.
func CompletionScript(shell string) string {
	switch shell {
	case "bash":
		return bashCompletion
	case "zsh":
		return zshCompletion
	case "fish":
		return fishCompletion
	}
	return ""
}

const bashCompletion = `# bash completion for oauthform: source <(oauthform completion bash)
_oauthform() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  local IFS=$'\n'
  local candidates
  candidates=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null)
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -o default -F _oauthform oauthform
`

const zshCompletion = `#compdef oauthform
# zsh completion for oauthform: source <(oauthform completion zsh)
_oauthform() {
  local -a candidates
  candidates=("${(@f)$(${words[1]} __complete "${(@)words[2,CURRENT-1]}" 2>/dev/null)}")
  compadd -a candidates
}
if (( $+functions[compdef] )); then
  compdef _oauthform oauthform
fi
`

const fishCompletion = `# fish completion for oauthform: oauthform completion fish | source
function __oauthform_complete
    set -l words (commandline -opc)
    oauthform __complete $words[2..-1] 2>/dev/null
end
complete -c oauthform -f -a '(__oauthform_complete)'
`
