#!/usr/bin/python3
"""The module map, enforced: each daemon/<module> includes only the modules its
ferry_module(... DEPS ...) line in CMakeLists.txt reaches (directly or through
them), and each third-party library stays in the modules ARCHITECTURE.md gives it.

    module_deps.py SOURCE_DIR

Prints one line per violation ("file:line: ...") and exits 1 when there is any.
"""
import pathlib
import re
import sys

# Third-party headers and the modules allowed to include them (cli may use all).
CONFINED = {
    "curl/": {"http"},
    "simdjson": {"manifest", "auth"},
    "yaml-cpp/": {"config"},
    "openssl/": {"digest"},
    "zlib.h": {"codec"},
    "zstd.h": {"codec"},
    "CLI/": set(),
    # Logging: not in core, digest, codec, reference, manifest, auth, config, http, store, export.
    "spdlog/": {"registry", "sync", "push", "run"},
}


def modules(cmake_text):
    deps = {}
    for m in re.finditer(r"ferry_module\((\w+)\s+DEPS([^)]*)\)", cmake_text):
        deps[m.group(1)] = {d[len("ferry_"):] for d in m.group(2).split() if d.startswith("ferry_")}
    return deps


def closure(deps, name):
    seen, todo = set(), [name]
    while todo:
        for d in deps.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def main():
    root = pathlib.Path(sys.argv[1])
    deps = modules((root / "CMakeLists.txt").read_text())
    if len(deps) < 10:
        print(f"module_deps: found only {len(deps)} ferry_module() lines in CMakeLists.txt")
        return 1
    known = set(deps) | {"cli"}
    problems = []
    checked = 0
    for path in sorted((root / "daemon").rglob("*")):
        if path.suffix not in (".h", ".cpp"):
            continue
        module = path.relative_to(root / "daemon").parts[0]
        if module not in known:
            problems.append(f"{path.relative_to(root)}: daemon/{module} is not a module in CMakeLists.txt")
            continue
        allowed = known if module == "cli" else closure(deps, module) | {module}
        checked += 1
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = re.match(r'\s*#\s*include\s*([<"])([^>"]+)[>"]', line)
            if not m:
                continue
            header = m.group(2)
            where = f"{path.relative_to(root)}:{n}"
            if m.group(1) == '"':
                other = header.split("/", 1)[0]
                if "/" in header and other in known and other not in allowed:
                    problems.append(f"{where}: includes {header}, but {module} may not use {other} "
                                    f"(its DEPS in CMakeLists.txt do not reach ferry_{other})")
            elif module != "cli":
                for prefix, owners in CONFINED.items():
                    if header.startswith(prefix) and module not in owners:
                        problems.append(f"{where}: includes <{header}>, which only "
                                        f"{', '.join(sorted(owners)) or 'cli'} may use")
    for p in problems:
        print(p)
    print(f"module_deps: {checked} files of {len(known)} modules checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
