# A stub of nixpkgs' `lib`: just what nix/module.nix, nix/package.nix and this harness
# use, with the same names and meanings (no nixpkgs offline). Must stay small and strict:
# an unknown function is an evaluation error, which is the point.
let
  inherit (builtins) all attrValues concatLists foldl' head isAttrs isBool isInt isList isString
    isFunction mapAttrs zipAttrsWith concatStringsSep;

  showPath = path: concatStringsSep "." path;

  # Every definition must be equal (nixpkgs: mergeEqualOption).
  mergeEqual = path: values:
    if all (v: v == head values) values then head values
    else throw "The option `${showPath path}' has conflicting definition values.";

  mkType = { name, check, merge ? mergeEqual }: { _type = "option-type"; inherit name check merge; };

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
  cleanSource = src: src;
  platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
  concatMapStrings = f: list: concatStringsSep "" (map f list);
  inherit showPath;
  # Harness internals, exported for eval.nix.
  isOption = v: isAttrs v && (v._type or null) == "option";
  inherit isFunction;
}
