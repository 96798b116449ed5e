#!/usr/bin/env bash
# The reconcile GitHub Action (action.yml beside this file), as one script that also runs outside
# GitHub: docs/CI.md describes it, tests/it/action.rs runs it on a real Git repository with only
# `curl` replaced by a recorder.
#
#   run.sh prepare   choose how to install reconcile; outputs mode, root, bin, cache-key
#   run.sh install   install it into the chosen root (a release archive, or cargo install)
#   run.sh review    (the default) build the database, plan, comment, set outputs, apply the policy
#
# Inputs come as INPUT_* variables (action.yml names each one), the rest from the variables a
# runner sets (GITHUB_*, RUNNER_*). Exit codes: 0 passed, 1 error, 3 the plan fails the policy.
# Every HTTP request goes through `http`, the one place that runs curl, so that a test can put a
# recording `curl` first on PATH. The token travels to curl on stdin, never in an argument, and
# is never printed.
set -euo pipefail

# --- small helpers -------------------------------------------------------------------------------

# A workflow command (::error::, ::warning::, ::notice::) with its message escaped.
annotate() {
  local level=$1 message=$2
  message=${message//'%'/'%25'}
  message=${message//$'\r'/'%0D'}
  message=${message//$'\n'/'%0A'}
  printf '::%s title=reconcile::%s\n' "$level" "$message"
}

# An error: the annotation on stderr (also where a `$(...)` would not swallow it), exit 1.
die() {
  annotate error "$1" >&2
  exit 1
}

# is_true INPUT VALUE: whether a boolean input is true; anything but true or false is an error.
is_true() {
  case "$2" in
    true | True | TRUE) return 0 ;;
    false | False | FALSE | '') return 1 ;;
    *) die "\`$1\`: expected true or false, got \`$2\`" ;;
  esac
}

# Sets a step output; a value with a newline (or any value when asked) uses the heredoc form
# with a random delimiter that the value does not contain.
set_output() {
  local name=$1 value=$2 multi=${3:-}
  [ -n "${GITHUB_OUTPUT:-}" ] || return 0
  if [ -n "$multi" ] || [[ $value == *$'\n'* ]]; then
    local delim
    while :; do
      delim="reconcile_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
      [[ $value == *"$delim"* ]] || break
    done
    printf '%s<<%s\n%s\n%s\n' "$name" "$delim" "$value" "$delim" >>"$GITHUB_OUTPUT"
  else
    printf '%s=%s\n' "$name" "$value" >>"$GITHUB_OUTPUT"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum | cut -d' ' -f1
  else
    shasum -a 256 | cut -d' ' -f1
  fi
}

# --- JSON: jq when the runner has it, else python3 -----------------------------------------------

JSON_TOOL=""
if command -v jq >/dev/null 2>&1; then
  JSON_TOOL=jq
elif command -v python3 >/dev/null 2>&1; then
  JSON_TOOL=python3
fi

# json_get FILE a.b.c: the value there (a string as is, anything else as JSON), nothing if absent.
json_get() {
  if [ "$JSON_TOOL" = jq ]; then
    jq -r --arg p "$2" 'getpath($p | split(".")) | if . == null then empty elif type == "string" then . else tojson end' "$1"
  else
    python3 - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1], encoding="utf-8"))
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
if v is not None:
    print(v if isinstance(v, str) else json.dumps(v))
PY
  fi
}

# json_length FILE: the length of the array in FILE; fails when it is not an array.
json_length() {
  if [ "$JSON_TOOL" = jq ]; then
    jq -e 'if type == "array" then length else error("not a list") end' "$1"
  else
    python3 - "$1" <<'PY'
import json, sys
v = json.load(open(sys.argv[1], encoding="utf-8"))
if not isinstance(v, list):
    sys.exit("not a list")
print(len(v))
PY
  fi
}

# json_find_comment FILE MARKER: "ID URL" of the first comment whose body starts with MARKER.
json_find_comment() {
  if [ "$JSON_TOOL" = jq ]; then
    jq -r --arg m "$2" \
      'first(.[] | select((.body // "") | ltrimstr("\r") | ltrimstr("\n") | startswith($m))) | "\(.id) \(.html_url // "")"' "$1"
  else
    python3 - "$1" "$2" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1], encoding="utf-8")):
    if (c.get("body") or "").lstrip("\r\n").startswith(sys.argv[2]):
        print(c["id"], c.get("html_url") or "")
        break
PY
  fi
}

# json_body TEXT_FILE OUT_FILE: {"body": <the text>} for the comments API.
json_body() {
  if [ "$JSON_TOOL" = jq ]; then
    jq -Rs '{body: .}' "$1" >"$2"
  else
    python3 - "$1" "$2" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
json.dump({"body": text}, open(sys.argv[2], "w", encoding="utf-8"))
PY
  fi
}

# --- HTTP ----------------------------------------------------------------------------------------

# The one place that runs curl: every request of this script goes through here.
http() {
  curl "$@"
}

# api METHOD PATH [BODY_FILE]: a GitHub REST call; the response goes to $API_RESPONSE and the
# HTTP status to stdout. The token reaches curl through its config on stdin.
api() {
  local method=$1 path=$2 body=${3:-}
  local url="${GITHUB_API_URL:-https://api.github.com}$path"
  local args=(--silent --show-error --location --request "$method" --output "$API_RESPONSE"
    --write-out '%{http_code}' --config -
    --header 'Accept: application/vnd.github+json' --header 'X-GitHub-Api-Version: 2022-11-28'
    --header 'User-Agent: reconcile-action')
  if [ -n "$body" ]; then
    args+=(--header 'Content-Type: application/json' --data-binary "@$body")
  fi
  printf 'header = "Authorization: Bearer %s"\n' "$GITHUB_TOKEN" | http "${args[@]}" "$url"
}

# api_ok METHOD PATH [BODY_FILE]: api, succeeding on a 2xx status; otherwise a warning with the
# status and GitHub's message, and failure.
api_ok() {
  local status
  if ! status=$(api "$@"); then
    annotate warning "$1 $2: the request failed"
    return 1
  fi
  case "$status" in
    2??) return 0 ;;
  esac
  local message=""
  message=$(json_get "$API_RESPONSE" message 2>/dev/null) || true
  annotate warning "$1 $2: HTTP $status${message:+: $message}"
  return 1
}

# --- prepare and install -------------------------------------------------------------------------

target_triple() {
  local arch os
  case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) die "no release archive for the machine \`$(uname -m)\`: leave \`version\` empty to build reconcile with cargo" ;;
  esac
  case "$(uname -s)" in
    Linux) os=unknown-linux-gnu ;;
    Darwin) os=apple-darwin ;;
    *) die "no release archive for \`$(uname -s)\`: leave \`version\` empty to build reconcile with cargo" ;;
  esac
  echo "$arch-$os"
}

# The repository of reconcile's source next to this action (the action's own checkout).
action_source() {
  local dir
  dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
  echo "$dir"
}

# OWNER/REPO of the action, from input `repository` or from the runner's path of a remote action
# (.../_actions/OWNER/REPO/REF/.github/actions/reconcile).
action_repository() {
  if [ -n "${INPUT_REPOSITORY:-}" ]; then
    echo "$INPUT_REPOSITORY"
    return
  fi
  local path=${GITHUB_ACTION_PATH:-}
  if [[ $path =~ /_actions/([^/]+)/([^/]+)/[^/]+/\.github/actions/reconcile/?$ ]]; then
    echo "${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
    return
  fi
  die "installing a release needs the repository it comes from: set \`repository\` or \`release-url\`"
}

cmd_prepare() {
  local root="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/reconcile-action-install"
  local os_arch="${RUNNER_OS:-$(uname -s)}-${RUNNER_ARCH:-$(uname -m)}"
  local mode key source="" rev=""
  if [ -n "${INPUT_RECONCILE_BIN:-}" ]; then
    [ -x "$INPUT_RECONCILE_BIN" ] || die "\`reconcile-bin\`: \`$INPUT_RECONCILE_BIN\` is not an executable file"
    set_output mode none
    set_output bin "$INPUT_RECONCILE_BIN"
    echo "reconcile: $INPUT_RECONCILE_BIN (given)"
    return
  elif [ -n "${INPUT_VERSION:-}" ]; then
    local version=${INPUT_VERSION#v} target url
    target=$(target_triple)
    url=${INPUT_RELEASE_URL:-}
    if [ -z "$url" ]; then
      url="https://github.com/$(action_repository)/releases/download/v{version}/reconcile-v{version}-{target}.tar.gz"
    fi
    url=${url//'{version}'/$version}
    url=${url//'{target}'/$target}
    mode=release source=$url
    key="reconcile-release-$os_arch-$(printf '%s %s' "$url" "${INPUT_RELEASE_SHA256:-}" | sha256_of)"
  elif [ -n "${INPUT_GIT:-}" ]; then
    mode=cargo-git source=$INPUT_GIT rev=${INPUT_GIT_REV:-}
    if ! [[ $rev =~ ^[0-9a-f]{40}$ ]]; then
      # A branch or tag: the commit it names now, so that the cache follows it.
      local ref=${rev:-HEAD} lines
      lines=$(git ls-remote "$INPUT_GIT" "$ref" "$ref^{}") || die "git ls-remote $INPUT_GIT $ref failed"
      rev=$(printf '%s\n' "$lines" | awk 'NF { sha = $1; if ($2 ~ /\^\{\}$/) { peeled = $1 } } END { print (peeled != "" ? peeled : sha) }')
      [ -n "$rev" ] || die "\`$ref\` is not a branch or tag of $INPUT_GIT"
    fi
    key="reconcile-git-$os_arch-$rev"
  else
    source=${INPUT_PATH:-}
    [ -n "$source" ] || source=$(action_source)
    [ -f "$source/Cargo.toml" ] || die "\`path\`: \`$source\` has no Cargo.toml; set \`version\`, \`git\` or \`reconcile-bin\`"
    mode=cargo-path
    # The sources that make the binary: any change gives a new cache entry.
    local digest
    digest=$(cd "$source" && find Cargo.toml Cargo.lock src -type f 2>/dev/null | LC_ALL=C sort |
      while IFS= read -r f; do printf '%s\n' "$f" && cat "$f"; done | sha256_of)
    key="reconcile-path-$os_arch-$digest"
  fi
  set_output mode "$mode"
  set_output root "$root"
  set_output bin "$root/bin/reconcile"
  set_output source "$source"
  set_output rev "$rev"
  set_output cache-key "$key"
  echo "reconcile: $mode from $source${rev:+ at $rev} (cache key $key)"
}

cmd_install() {
  local mode=${INSTALL_MODE:?} root=${INSTALL_ROOT:?} source=${INSTALL_SOURCE:?}
  mkdir -p "$root/bin"
  case "$mode" in
    release)
      local tmp
      tmp=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/reconcile-download.XXXXXX")
      http --fail --silent --show-error --location --retry 3 --output "$tmp/reconcile.tar.gz" "$source" ||
        die "could not download $source"
      if [ -n "${INPUT_RELEASE_SHA256:-}" ]; then
        local got
        got=$(sha256_of <"$tmp/reconcile.tar.gz")
        [ "$got" = "$INPUT_RELEASE_SHA256" ] || die "$source: sha256 is $got, expected $INPUT_RELEASE_SHA256"
      fi
      tar -xzf "$tmp/reconcile.tar.gz" -C "$tmp"
      local bin
      bin=$(find "$tmp" -maxdepth 2 -type f -name reconcile | head -n 1)
      [ -n "$bin" ] || die "$source holds no \`reconcile\` binary"
      install -m 0755 "$bin" "$root/bin/reconcile"
      ;;
    cargo-git)
      cargo install --locked --root "$root" --git "$source" --rev "${INSTALL_REV:?}" sqlite-reconcile
      ;;
    cargo-path)
      cargo install --locked --root "$root" --path "$source"
      ;;
    *) die "unknown install mode \`$mode\`" ;;
  esac
  "$root/bin/reconcile" --version
}

# --- review --------------------------------------------------------------------------------------

# BASE_COMMIT: the commit whose schema the database is built from, fetched when the checkout
# lacks it: input `base-ref`, else the pull request's base commit, else its base branch.
base_commit() {
  local ref=${INPUT_BASE_REF:-}
  if [ -z "$ref" ] && [ -n "${GITHUB_EVENT_PATH:-}" ] && [ -f "$GITHUB_EVENT_PATH" ]; then
    ref=$(json_get "$GITHUB_EVENT_PATH" pull_request.base.sha)
  fi
  [ -n "$ref" ] || ref=${GITHUB_BASE_REF:-}
  [ -n "$ref" ] || die "no base to build the database from: set \`base-ref\` or \`db\` (outside a pull request)"
  if BASE_COMMIT=$(git rev-parse --verify --quiet "$ref^{commit}"); then
    return
  fi
  # A shallow checkout (actions/checkout's default): fetch the base commit alone.
  if git fetch --quiet --no-tags --depth=1 origin "$ref" ||
    { [ -n "${GITHUB_BASE_REF:-}" ] && git fetch --quiet --no-tags --depth=1 origin "$GITHUB_BASE_REF"; }; then
    BASE_COMMIT=$(git rev-parse --verify "FETCH_HEAD^{commit}")
    return
  fi
  die "could not fetch the base \`$ref\` from origin"
}

cmd_review() {
  local schema=${INPUT_SCHEMA:-schema}
  schema=${schema#./}
  local base_schema=${INPUT_BASE_SCHEMA:-$schema}
  base_schema=${base_schema#./}
  local command=${INPUT_COMMAND:-plan} fail_on=${INPUT_FAIL_ON:-destructive}
  case "$command" in plan | drift) ;; *) die "\`command\`: expected plan or drift, got \`$command\`" ;; esac
  case "$fail_on" in destructive | data-dependent | never) ;;
    *) die "\`fail-on\`: expected destructive, data-dependent or never, got \`$fail_on\`" ;;
  esac
  local want_comment=false want_sarif=false
  if is_true comment "${INPUT_COMMENT:-true}"; then want_comment=true; fi
  if is_true sarif "${INPUT_SARIF:-false}"; then want_sarif=true; fi
  [ -n "$JSON_TOOL" ] || die "reading JSON needs jq or python3 on PATH"
  local reconcile=${INPUT_RECONCILE_BIN:-reconcile}
  # A relative path names a file in the directory the step started in, also after the `cd` below.
  [[ $reconcile != */* || $reconcile == /* ]] || reconcile="$(pwd)/$reconcile"
  command -v "$reconcile" >/dev/null 2>&1 || die "\`$reconcile\` not found: set \`reconcile-bin\`, or let the action install it"

  cd "${GITHUB_WORKSPACE:-.}"
  [ -d "$schema" ] || die "\`schema\`: no directory \`$schema\` in $(pwd)"
  local work
  work=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/reconcile-action.XXXXXX")
  API_RESPONSE="$work/response.json"

  # 1. The database the plan starts from, and the name the comment gives it (`label`).
  local db="$work/review.db" label against
  if [ -n "${INPUT_DB:-}" ]; then
    [ -f "$INPUT_DB" ] || die "\`db\`: no file \`$INPUT_DB\`"
    cp "$INPUT_DB" "$db"
    label=$INPUT_DB
    against="\`$INPUT_DB\`"
  else
    local commit short
    base_commit
    commit=$BASE_COMMIT
    short=$(git rev-parse --short "$commit")
    label="${GITHUB_BASE_REF:-${INPUT_BASE_REF:-base}}@$short"
    against="the schema of ${GITHUB_BASE_REF:-${INPUT_BASE_REF:-the base}} at $short"
    if git cat-file -e "$commit:$base_schema" 2>/dev/null; then
      mkdir -p "$work/base"
      git archive --format=tar "$commit" -- "$base_schema" | tar -xf - -C "$work/base"
      echo "Building the database from $base_schema at $short"
      "$reconcile" -q apply --yes --db "$db" --schema "$work/base/$base_schema" --plans "$work/plans" ||
        die "the base's schema ($base_schema at $short) does not build: see the log above"
    else
      echo "The base ($short) has no $base_schema: planning against an empty database"
      : >"$db"
      label="empty database"
      against="an empty database ($base_schema is new)"
    fi
  fi

  # 2. The plan, as JSON for the outputs and the policy, and as Markdown for the comment.
  "$reconcile" -q plan --db "$db" --schema "$schema" --format json >"$work/plan.json" ||
    die "reconcile plan failed: see the log above"
  local in_sync risk summary
  in_sync=$(json_get "$work/plan.json" in_sync)
  risk=$(json_get "$work/plan.json" risk)
  summary=$(json_get "$work/plan.json" summary)
  [ -n "$in_sync" ] && [ -n "$risk" ] || die "reconcile plan printed no \`in_sync\` and \`risk\`"

  local status=0
  "$reconcile" "$command" --db "$db" --schema "$schema" --format markdown >"$work/comment.md" || status=$?
  if [ "$status" -ne 0 ] && ! { [ "$command" = drift ] && [ "$status" -eq 2 ]; }; then
    die "reconcile $command --format markdown failed (exit $status): see the log above"
  fi
  local marker text
  marker=$(head -n 1 "$work/comment.md")
  [[ $marker == '<!-- reconcile:'*' -->'* ]] || die "reconcile $command --format markdown did not start with its marker"
  marker="${marker%%-->*}-->"
  # The scratch database's path changes from run to run and means nothing to a reviewer.
  text=$(cat "$work/comment.md")
  printf '%s\n' "${text//"$db"/"$label"}" >"$work/comment.md"
  # What was planned against what, under the plan.
  local head_sha="" planned="Planned"
  [ "$command" = plan ] || planned="Compared"
  if [ -n "${GITHUB_EVENT_PATH:-}" ] && [ -f "$GITHUB_EVENT_PATH" ]; then
    head_sha=$(json_get "$GITHUB_EVENT_PATH" pull_request.head.sha)
  fi
  head_sha=${head_sha:-${GITHUB_SHA:-}}
  [ -z "$head_sha" ] || planned+=" for ${head_sha:0:7}"
  printf '\n<sub>%s against %s.</sub>\n' "$planned" "$against" >>"$work/comment.md"

  # 3. Outputs and the job summary.
  local has_changes=true destructive=false
  [ "$in_sync" = true ] && has_changes=false
  [ "$risk" = destructive ] && destructive=true
  set_output has_changes "$has_changes"
  set_output destructive "$destructive"
  set_output risk "$risk"
  set_output summary "$summary"
  set_output json "$(cat "$work/plan.json")" multi
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$work/comment.md" >>"$GITHUB_STEP_SUMMARY"
  fi
  echo "Plan: $summary (risk: $risk)"

  # 4. SARIF of the lint warnings, for the upload step of action.yml.
  if [ "$want_sarif" = true ]; then
    "$reconcile" -q check --schema "$schema" --format sarif >"$work/reconcile.sarif" ||
      die "reconcile check --format sarif failed: see the log above"
    set_output sarif-file "$work/reconcile.sarif"
  fi

  # 5. The pull-request comment: the one that starts with the marker is updated, else one posted.
  if [ "$want_comment" = true ]; then
    post_comment "$work" "$marker" "$has_changes"
  fi

  # 6. The policy.
  local fails=false
  case "$fail_on:$risk" in
    never:*) ;;
    destructive:destructive | data-dependent:destructive | data-dependent:data_dependent) fails=true ;;
    *:safe | destructive:data_dependent) ;;
    *) annotate warning "unknown risk \`$risk\`: counted as failing" && fails=true ;;
  esac
  if [ "$fails" = true ]; then
    annotate error "the plan is $risk and fail-on is $fail_on: $summary"
    exit 3
  fi
}

post_comment() {
  local work=$1 marker=$2 has_changes=$3
  case "${GITHUB_EVENT_NAME:-}" in
    pull_request | pull_request_target) ;;
    *)
      echo "Not a pull request (${GITHUB_EVENT_NAME:-no event}): no comment"
      return 0
      ;;
  esac
  local number
  number=$(json_get "${GITHUB_EVENT_PATH:?}" pull_request.number)
  [ -n "$number" ] || die "$GITHUB_EVENT_PATH has no pull_request.number"
  [ -n "${GITHUB_REPOSITORY:-}" ] || die "GITHUB_REPOSITORY is not set"
  if [ -z "${GITHUB_TOKEN:-}" ]; then
    annotate warning "no token (input \`github-token\`): the comment is not posted"
    return 0
  fi

  # A comment holds at most 65536 characters: a longer plan is cut, its code block closed.
  local body="$work/comment.md"
  if [ "$(wc -c <"$body")" -gt 60000 ]; then
    head -c 60000 "$body" >"$work/comment-cut.md"
    if [ $(($(grep -c '^```' "$work/comment-cut.md" || true) % 2)) -eq 1 ]; then
      printf '\n```\n' >>"$work/comment-cut.md"
    fi
    printf '\n_The plan is too long for a comment: the whole plan is in the job summary._\n' >>"$work/comment-cut.md"
    body="$work/comment-cut.md"
  fi
  json_body "$body" "$work/comment.json"

  # The comments of the pull request, 100 a page, until the marked one is found.
  local page=1 found="" count
  while [ "$page" -le 50 ]; do
    api_ok GET "/repos/$GITHUB_REPOSITORY/issues/$number/comments?per_page=100&page=$page" || return 0
    count=$(json_length "$API_RESPONSE") || {
      annotate warning "the comment list is not a JSON list"
      return 0
    }
    found=$(json_find_comment "$API_RESPONSE" "$marker")
    [ -z "$found" ] && [ "$count" -eq 100 ] || break
    page=$((page + 1))
  done

  local url
  if [ -n "$found" ]; then
    api_ok PATCH "/repos/$GITHUB_REPOSITORY/issues/comments/${found%% *}" "$work/comment.json" || return 0
    url=$(json_get "$API_RESPONSE" html_url)
    echo "Updated the comment ${url:-${found%% *}}"
  elif [ "$has_changes" = true ]; then
    api_ok POST "/repos/$GITHUB_REPOSITORY/issues/$number/comments" "$work/comment.json" || return 0
    url=$(json_get "$API_RESPONSE" html_url)
    echo "Posted the comment ${url:-}"
  else
    echo "No schema change and no earlier comment: nothing posted"
    return 0
  fi
  set_output comment-url "$url"
}

main() {
  case "${1:-review}" in
    prepare) cmd_prepare ;;
    install) cmd_install ;;
    review) cmd_review ;;
    *) die "usage: run.sh [prepare|install|review]" ;;
  esac
}

main "$@"
