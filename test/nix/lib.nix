# A stub of nixpkgs' `lib`: just what nix/module.nix, nix/package.nix and this harness
# use, with the same names and meanings (no nixpkgs offline). Must stay small and strict:
# an unknown function is an evaluation error, which is the point.
let
  inherit (builtins) all attrValues concatLists foldl' head isAttrs isBool isInt isList isString
    isFunction mapAttrs zipAttrsWith concatStringsSep;

  showPath = path: concatStringsSep "." path;

  hasPrefix = pref: str: builtins.substring 0 (builtins.stringLength pref) str == pref;
  hasSuffix = suf: str:
    let ls = builtins.stringLength str; lf = builtins.stringLength suf;
    in lf <= ls && builtins.substring (ls - lf) lf str == suf;
  cleanSourceFilter = name: type:
    let baseName = baseNameOf (toString name); in
    !((type == "directory" && (baseName == ".git" || baseName == ".svn" || baseName == "CVS" || baseName == ".hg"))
      || hasSuffix "~" baseName
      || builtins.match "^\\.sw[a-z]$" baseName != null
      || builtins.match "^\\..*\\.sw[a-z]$" baseName != null
      || hasSuffix ".o" baseName
      || hasSuffix ".so" baseName
      || (type == "symlink" && hasPrefix "result" baseName)
      || type == "unknown");
  cleanSourceWith = { src, filter ? _: _: true, name ? null }:
    let
      orig = src.origSrc or src;
      before = src.filter or (_: _: true);
    in {
      _isLibCleanSourceWith = true;
      origSrc = orig;
      filter = path: type: before path type && filter path type;
      outPath = toString orig;
    };

  # Every definition must be equal (nixpkgs: mergeEqualOption).
  mergeEqual = path: values:
    if all (v: v == head values) values then head values
    else throw "The option `${showPath path}' has conflicting definition values.";

  mkType = { name, check, merge ? mergeEqual }: { _type = "option-type"; inherit name check merge; };

  isOptionDecl = v: isAttrs v && (v._type or null) == "option";
  evalSubmodule = freeform: path: decls: values:
    let
      declared = builtins.attrNames decls;
      free = map (v: removeAttrs v declared) values;
      field = n: concatLists (map (v: if v ? ${n} then [ v.${n} ] else [ ]) values);
      one = n: d:
        let vs = field n; p = path ++ [ n ]; in
        if isOptionDecl d then
          (if vs == [ ] then (d.default or (throw "The option `${showPath p}' is used but not defined."))
           else if !(all d.type.check vs) then throw "A definition for option `${showPath p}' is not of type `${d.type.name}'."
           else d.type.merge p vs)
        else evalSubmodule freeform p d vs;
    in
    (if freeform == null then
      (if all (v: v == { }) free then { } else throw "The option `${showPath path}' has undeclared keys.")
     else freeform.merge path free)
    // mapAttrs one decls;

  types = rec {
    bool = mkType { name = "bool"; check = isBool; };
    str = mkType { name = "str"; check = isString; };
    int = mkType { name = "int"; check = isInt; };
    package = mkType {
      name = "package";
      check = v: isAttrs v && (v.type or null) == "derivation";
    };
    # nixpkgs' types.attrs: shallow merge, later definitions win per top-level key.
    attrs = mkType {
      name = "attrs";
      check = isAttrs;
      merge = _path: values: foldl' (a: b: a // b) { } values;
    };
    nullOr = elem: mkType {
      name = "null or ${elem.name}";
      check = v: v == null || elem.check v;
    };
    listOf = elem: mkType {
      name = "listOf ${elem.name}";
      check = v: isList v && all elem.check v;
      merge = _path: values: concatLists values;
    };
    attrsOf = elem: mkType {
      name = "attrsOf ${elem.name}";
      check = v: isAttrs v && all elem.check (attrValues v);
      merge = path: values: zipAttrsWith (n: vs: elem.merge (path ++ [ n ]) vs) values;
    };
    # nixpkgs' types.anything: attribute sets merge recursively, anything else must agree.
    anything = mkType {
      name = "anything";
      check = _: true;
      merge = path: values:
        if all isAttrs values && all (v: (v.type or null) != "derivation") values
        then zipAttrsWith (n: vs: anything.merge (path ++ [ n ]) vs) values
        else mergeEqual path values;
    };
    # nixpkgs' types.numbers.between: an int or float in [lo, hi].
    numbers.between = lo: hi: mkType {
      name = "number between ${toString lo} and ${toString hi} (both inclusive)";
      check = v: (isInt v || builtins.isFloat v) && v >= lo && v <= hi;
    };
    # nixpkgs' types.submodule for a module of the RFC 42 shape { freeformType; options; }
    # (no imports, no config): declared options are type-checked and defaulted, every
    # other key is merged by the freeform type, at every level of nesting.
    submodule = m: mkType {
      name = "submodule";
      check = isAttrs;
      merge = path: values: evalSubmodule m.freeformType path (m.options or { }) values;
    };
    # Harness only: the type of nixpkgs' `(pkgs.formats.json { }).type` (a JSON value;
    # attribute sets merge recursively, anything else must agree), exposed via pkgs.nix.
    stubJsonValue = mkType {
      name = "JSON value";
      check = v: v == null || builtins.isBool v || isInt v || builtins.isFloat v || isString v
        || (isList v && all stubJsonValue.check v)
        || (isAttrs v && (v.type or null) != "derivation" && all stubJsonValue.check (attrValues v));
      merge = anything.merge;
    };
    # Harness only (not in nixpkgs): an attribute set limited to the given keys, so a
    # misspelt NixOS option under e.g. systemd.services.<name> fails like it would there.
    stubStrictAttrs = allowed: mkType {
      name = "attribute set with keys ${concatStringsSep ", " allowed}";
      check = v: isAttrs v && all (n: builtins.elem n allowed) (builtins.attrNames v);
      merge = anything.merge;
    };
  };
in
{
  inherit types;
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = name: {
    _type = "option";
    type = types.bool;
    default = false;
    example = true;
    description = "Whether to enable ${name}.";
  };
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  literalExpression = text: { _type = "literalExpression"; inherit text; };
  # nixpkgs lib/options.nix: a package option defaulting to pkgs.<name> (a path list allowed).
  mkPackageOption = pkgs: name: { default ? [ name ], extraDescription ? "", example ? null }:
    let path = if isList default then default else [ default ]; in {
      _type = "option";
      type = types.package;
      default = foldl' (set: n: set.${n}) pkgs path;
      defaultText = { _type = "literalExpression"; text = "pkgs." + concatStringsSep "." path; };
      description = "The ${name} package to use." + extraDescription;
    };
  # nixpkgs lib/sources.nix, same semantics: cleanSourceFilter drops VCS dirs, editor
  # backups, object files, `result` symlinks and unknown file types; cleanSourceWith
  # composes filters (both must keep a path) and remembers the original source. Paths
  # reach a filter as absolute path strings, as with builtins.path. No store copy here:
  # the harness applies `filter` itself (test_nix.py, against the real tree).
  inherit cleanSourceFilter cleanSourceWith;
  cleanSource = src: cleanSourceWith { filter = cleanSourceFilter; inherit src; };
  inherit hasPrefix hasSuffix;
  platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
  concatMapStrings = f: list: concatStringsSep "" (map f list);
  inherit showPath;
  # Harness internals, exported for eval.nix.
  isOption = v: isAttrs v && (v._type or null) == "option";
  inherit isFunction;
}
