# Sourced by ./fable and .ci/run: sets JAVA_HOME to a JDK 25 or later, or says what is missing.
# Order: $JAVA_HOME, then /usr/lib/jvm/*25*, then /usr/lib/jvm/* (newest first), then java on PATH.
fable_jdk_major() { # prints the feature version of the java binary given
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n 1
}
fable_find_jdk25() {
  local candidates=() c v
  [[ -n "${JAVA_HOME:-}" ]] && candidates+=("$JAVA_HOME")
  for c in /usr/lib/jvm/*25* /usr/lib/jvm/*; do [[ -d "$c" ]] && candidates+=("$c"); done
  if command -v java >/dev/null 2>&1; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
  for c in "${candidates[@]}"; do
    [[ -x "$c/bin/java" && -x "$c/bin/javac" ]] || continue
    v="$(fable_jdk_major "$c/bin/java")"
    if [[ "$v" =~ ^[0-9]+$ ]] && (( v >= 25 )); then
      export JAVA_HOME="$c"
      return 0
    fi
  done
  echo "fable: no JDK 25 or later found (looked at JAVA_HOME='${JAVA_HOME:-}', /usr/lib/jvm/*, and java on PATH)." >&2
  echo "fable: install one (e.g. Temurin 25) and point JAVA_HOME at it." >&2
  return 1
}
