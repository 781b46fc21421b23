# A tiny evalModules: the NixOS module system's fixpoint, reduced to what nix/module.nix
# needs. Options come from declarations; definitions are pushed down through mkIf/mkMerge
# by the declared tree (so `config = mkIf cfg.enable { ... }` needs no condition to know
# its keys, as in nixpkgs), then filtered by condition and merged by the option's type.
# Unsupported: imports, priorities (mkDefault/mkForce); submodules only as lib.nix's
# types.submodule models them. Defining an undeclared
# option is an error, as in NixOS.
{ lib }:
{ modules, specialArgs ? { } }:
let
  inherit (builtins) attrNames concatMap filter foldl' hasAttr isAttrs isFunction isPath mapAttrs;

  load = m:
    if isPath m || builtins.isString m then load (import m)
    else if isFunction m then m ({ inherit config lib; options = declared; } // specialArgs)
    else m;
  loaded = map load modules;
  isFull = m: m ? options || m ? config;
  declsOf = m: if isFull m then m.options or { } else { };
  defsOf = m: if isFull m then m.config or { } else removeAttrs m [ "imports" ];

  # Declarations: nested attribute sets whose leaves are options; one declaration each.
  mergeDecls = path: a: b:
    if lib.isOption a || lib.isOption b
    then throw "The option `${lib.showPath path}' is declared twice (stub: no merging of declarations)."
    else a // mapAttrs (n: bv: if hasAttr n a then mergeDecls (path ++ [ n ]) a.${n} bv else bv) b;
  declared = foldl' (mergeDecls [ ]) { } (map declsOf loaded);

  # The definitions below key `name` of one definition, with its mkIf/mkMerge wrappers kept.
  pick = name: d:
    if (d._type or null) == "if" then map (v: lib.mkIf d.condition v) (pick name d.content)
    else if (d._type or null) == "merge" then concatMap (pick name) d.contents
    else if hasAttr name d then [ d.${name} ]
    else [ ];
  namesOf = d:
    if (d._type or null) == "if" then namesOf d.content
    else if (d._type or null) == "merge" then concatMap namesOf d.contents
    else if isAttrs d then attrNames d
    else throw "stub evalModules: a non-attribute-set definition where options are nested";
  # The values that remain once conditions are evaluated (only here, at a leaf).
  resolve = d:
    if (d._type or null) == "if" then (if d.condition then resolve d.content else [ ])
    else if (d._type or null) == "merge" then concatMap resolve d.contents
    else if (d._type or null) == "override" then throw "stub evalModules: mkOverride is not supported"
    else [ d ];

  evalOption = path: opt: defs:
    let
      values = concatMap resolve defs;
      bad = filter (v: !opt.type.check v) values;
    in
    if values == [ ] then
      # As in nixpkgs, the default is a definition merged by the type (a submodule's
      # declared options then get their own defaults).
      (if opt ? default then opt.type.merge path [ opt.default ]
       else throw "The option `${lib.showPath path}' is used but not defined.")
    else if bad != [ ] then
      throw "A definition for option `${lib.showPath path}' is not of type `${opt.type.name}'."
    else opt.type.merge path values;

  evalTree = path: tree: defs:
    if lib.isOption tree then evalOption path tree defs
    else
      let unknown = filter (n: !(hasAttr n tree)) (concatMap namesOf defs);
      in
      if unknown != [ ] then
        throw "The option `${lib.showPath (path ++ [ (builtins.head unknown) ])}' does not exist."
      else mapAttrs (n: sub: evalTree (path ++ [ n ]) sub (concatMap (pick n) defs)) tree;

  config = evalTree [ ] declared (map defsOf loaded);
in
{
  inherit config;
  options = declared;
}
