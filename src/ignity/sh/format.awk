# Written by Ignity (ignity/sh/format.awk) as NAME/log/format.awk (README "Service output").
# log/run runs it under s6-log, as the user Ignity runs as (root, normally); it reads
# lines on stdin and writes the container's stdout or stderr, nothing else.
# One line in, one or more whole lines out, each written with one write(2) of at most
# 4000 bytes, under PIPE_BUF (4096): atomic on a pipe, so lines of different services
# never mix. Byte semantics (LC_ALL=C); POSIX awk plus fflush().
BEGIN {
    mode = ENVIRON["IGNITY_OUTPUT_MODE"]
    prefix = ENVIRON["IGNITY_OUTPUT_PREFIX"]
    head = ENVIRON["IGNITY_OUTPUT_HEAD"]
    budget = 4000
    for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i
    hi = "[" sprintf("%c", 128) "-" sprintf("%c", 255) "]"
    ctl = "[" sprintf("%c", 1) "-" sprintf("%c", 31) sprintf("%c", 127) "]"
    nul = sprintf("%c", 0)
    if (length(nul) != 1) nul = ""
    for (i = 0; i < 32; i++) esc[sprintf("%c", i)] = sprintf("\\u%04x", i)
    esc["\t"] = "\\t"; esc["\n"] = "\\n"; esc["\r"] = "\\r"; esc["\b"] = "\\b"; esc["\f"] = "\\f"
    esc["\""] = "\\\""; esc["\\"] = "\\\\"; esc[sprintf("%c", 127)] = "\\u007f"
    for (i = 128; i < 256; i++) latin[sprintf("%c", i)] = sprintf("\\u%04x", i)
    partial = ", \"partial\": true"
    ORS = ""  # the newline is part of the one string printed: one write, even unbuffered
}

# The length of the first piece of s of at most n bytes that does not end
# inside a UTF-8 sequence (moved back at most 3 bytes).
function cut(s, n,    k, b) {
    for (k = n; k > n - 3; k--) {
        b = ord[substr(s, k + 1, 1)]
        if (b < 128 || b >= 192) return k
    }
    return n
}

function utf8(s,    i, n, b, c, need, lo, up, k) {
    n = length(s)
    for (i = 1; i <= n; i++) {
        b = ord[substr(s, i, 1)]
        if (b < 128) continue
        if (b < 194 || b > 244) return 0
        need = b < 224 ? 1 : (b < 240 ? 2 : 3)
        lo = 128; up = 191
        if (b == 224) lo = 160
        else if (b == 237) up = 159
        else if (b == 240) lo = 144
        else if (b == 244) up = 143
        if (i + need > n) return 0
        c = ord[substr(s, i + 1, 1)]
        if (c < lo || c > up) return 0
        for (k = 2; k <= need; k++) {
            c = ord[substr(s, i + k, 1)]
            if (c < 128 || c > 191) return 0
        }
        i += need
    }
    return 1
}

function join(s, re, with,    a, n, i, out) {
    n = split(s, a, re)
    out = a[1]
    for (i = 2; i <= n; i++) out = out with a[i]
    return out
}

function emit(msg, last) {
    print open msg "\"" enc (last ? "" : partial) "}\n"
    fflush()
}

mode == "prefixed" {
    s = $0
    room = budget - 1 - length(prefix)
    while (length(s) > room) {
        n = cut(s, room)
        print prefix substr(s, 1, n) "\n"
        fflush()
        s = substr(s, n + 1)
    }
    print prefix s "\n"
    fflush()
    next
}

{
    # s6-log's T (TZ=UTC0) put "YYYY-MM-DD HH:MM:SS.NNNNNNNNN  " in front.
    open = "{\"time\": \"" substr($0, 1, 10) "T" substr($0, 12, 18) "Z\", " head ", \"message\": \""
    s = substr($0, 32)
    enc = (s ~ hi && !utf8(s)) ? ", \"encoding\": \"latin-1\"" : ""
    room = budget - 1 - length(open) - length(enc) - length(partial) - 2
    if (s !~ ctl && (nul == "" || !index(s, nul)) && (enc == "" || s !~ hi)) {
        if (index(s, "\\")) s = join(s, "\\\\", "\\\\")
        if (index(s, "\"")) s = join(s, "\"", "\\\"")
        if (length(s) <= room) { emit(s, 1); next }
        s = substr($0, 32)
    }
    out = ""
    n = length(s)
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (c in esc) e = esc[c]
        else if (enc != "" && (c in latin)) e = latin[c]
        else e = c
        if (length(out) + length(e) > room - 3 && !(enc == "" && ord[c] >= 128 && ord[c] < 192)) {
            emit(out, 0)
            out = ""
        }
        out = out e
    }
    emit(out, 1)
}
