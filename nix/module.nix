# NixOS module `services.ci-docker-prune`: the daemon as a hardened systemd service,
# `settings` rendered to /etc/ci-docker-prune/config.json, the D-Bus policy from the
# package. Owns only its own options; must not run alongside Docker's own prune timer
# (virtualisation.docker.autoPrune empties the very cache this daemon keeps).
# The unit mirrors systemd/ci-docker-prune.service line for line (test/nix/ checks it).
{ config, lib, pkgs, ... }:

let
  cfg = config.services.ci-docker-prune;
  settingsFormat = pkgs.formats.json { };
  # Every key is optional; `{ }` means all defaults (docs/configuration.md).
  # nixpkgs has no ci-docker-prune (yet): default to the package of this checkout.
  pkgsWithOurs = pkgs // { ci-docker-prune = pkgs.ci-docker-prune or (pkgs.callPackage ./package.nix { }); };
  m = cfg.metrics;
  # The metrics options land in settings.metrics (only those set: null keeps the default).
  metricsSettings = (if m.textfile != null then { textfile = m.textfile; } else { })
    // (if m.listen != null then { listen = m.listen; } else { });
  settings = if metricsSettings == { } then cfg.settings
    else cfg.settings // { metrics = (cfg.settings.metrics or { }) // metricsSettings; };
  # A TCP listener ("127.0.0.1:PORT", "[::1]:PORT") needs IP sockets in the host's network
  # namespace; a "unix:PATH" one does not. Loopback only (the daemon refuses other addresses).
  tcpListen = m.listen != null && builtins.substring 0 5 m.listen != "unix:";
  unixListenDir = if m.listen != null && !tcpListen then dirOf (builtins.substring 5 (-1) m.listen) else null;
  # ProtectSystem=strict: the textfile's folder and a unix socket's folder must be writable.
  writable = (if m.textfile != null then [ (dirOf m.textfile) ] else [ ])
    ++ (if unixListenDir != null then [ unixListenDir ] else [ ]);
  # Every key is optional; `{ }` means all defaults (docs/configuration.md).
  configText = builtins.toJSON settings;
in
{
  options.services.ci-docker-prune = {
    enable = lib.mkEnableOption "ci-docker-prune, the daemon that keeps the Docker image cache and prunes surgically";

    package = lib.mkPackageOption pkgsWithOurs "ci-docker-prune" {
      extraDescription = " Without pkgs.ci-docker-prune, the package of this checkout (nix/package.nix).";
    };

    settings = lib.mkOption {
      # RFC 42: any key of docs/configuration.md, in the config's own JSON shape; the ones
      # operators set most are declared (typed, documented, with the daemon's defaults).
      type = lib.types.submodule {
        freeformType = settingsFormat.type;
        options = {
          disk.threshold_percent = lib.mkOption {
            type = lib.types.numbers.between 0 100;
            default = 80;
            description = ''
              Used bytes, in percent (not a fraction: 0.8 means 0.8 %), of the filesystem
              holding Docker's root at which the disk gate opens. Leave room above it for
              everything CI writes until its runs end (runbook, "Picking the threshold").
            '';
          };
          disk.inode_threshold_percent = lib.mkOption {
            type = lib.types.numbers.between 0 100;
            default = 80;
            description = "Used inodes, in percent, at which the disk gate opens too.";
          };
          prune.until = lib.mkOption {
            type = lib.types.str;
            default = "24h";
            description = ''
              Only objects older than this go (a Go duration, passed to Docker's prune
              filter): stopped containers, dangling images, build cache unused for this long.
            '';
          };
          prune.dry_run = lib.mkOption {
            type = lib.types.bool;
            default = false;
            description = "Decide and log, send no prune (`status --check` warns while it is on).";
          };
        };
      };
      default = { };
      example = lib.literalExpression ''
        {
          disk.threshold_percent = 85;
          prune.until = "48h";
          gates.settle = "30s";
        }
      '';
      description = ''
        The JSON configuration (docs/configuration.md), written to
        /etc/ci-docker-prune/config.json. Unknown keys are rejected by the daemon, so a
        typo fails the service start instead of silently changing the policy. A change
        reloads the daemon after `ci-docker-prune check-config` accepted it; a rejected
        config fails the reload (and `nixos-rebuild switch`) and keeps the old one running.
        The keys operators set most: `disk.threshold_percent` and
        `disk.inode_threshold_percent` (default 80; a percentage, not a fraction),
        `prune.until` (default "24h"), `prune.cooldown` (default "15m"),
        `gates.run_stacks` (a regex for your CI's stack names: the default matches one CI's
        naming only), `prune.dry_run` (default false).
      '';
    };

    metrics.textfile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/var/lib/prometheus-node-exporter-text-files/ci-docker-prune.prom";
      description = ''
        Write Prometheus metrics to this file (must end in .prom) for node_exporter's
        textfile collector; sets settings.metrics.textfile and makes its folder writable
        in the sandbox (ReadWritePaths).
      '';
    };

    metrics.listen = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "127.0.0.1:9108";
      description = ''
        Serve GET /metrics on "127.0.0.1:PORT", "[::1]:PORT" or "unix:/PATH"; sets
        settings.metrics.listen. A TCP address opens AF_INET/AF_INET6 and leaves the
        private network namespace (loopback traffic only, by IPAddressAllow=localhost):
        the unit's exposure score rises (docs/runbook.md). A unix socket keeps the sandbox.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = !config.virtualisation.docker.autoPrune.enable;
        message = ''
          services.ci-docker-prune replaces virtualisation.docker.autoPrune: the periodic
          `docker system prune` empties the image cache this daemon keeps. Set
          virtualisation.docker.autoPrune.enable = false.
        '';
      }
    ];

    environment.etc."ci-docker-prune/config.json".text = configText;
    environment.systemPackages = [ cfg.package ];  # `ci-docker-prune status|plan|prune`
    services.dbus.packages = [ cfg.package ];      # share/dbus-1/system.d policy

    systemd.services.ci-docker-prune = {
      description = "Surgical Docker prune daemon that keeps the image cache";
      # The runbook in the package (NixOS has no /usr/share/doc).
      documentation = [ "file://${cfg.package}/share/doc/ci-docker-prune/runbook.md" ];
      after = [ "docker.service" "docker.socket" ];
      # Docker stopped on purpose stays stopped: see the shipped unit.
      partOf = [ "docker.service" ];
      wantedBy = [ "multi-user.target" "docker.service" ];
      reloadTriggers = [ configText ];
      unitConfig = {
        StartLimitIntervalSec = "10min";
        StartLimitBurst = 5;
      };
      # Why each line: comments in systemd/ci-docker-prune.service.
      serviceConfig = {
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = "${cfg.package}/bin/ci-docker-prune daemon";
        # NixOS has /bin/sh (environment.binsh) but no /bin/kill: the shell builtin.
        # Validate first, so a rejected config fails the reload (and the switch).
        ExecReload = "/bin/sh -c '${cfg.package}/bin/ci-docker-prune check-config >/dev/null && kill -HUP $MAINPID'";
        WatchdogSec = "60s";
        Restart = "on-failure";
        RestartSec = "5s";
        RestartPreventExitStatus = 2;
        TimeoutStopSec = "5min";

        User = "root";
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        NoNewPrivileges = true;
        PrivateUsers = true;

        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        DevicePolicy = "closed";
        ProtectProc = "invisible";
        ProcSubset = "pid";
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        UMask = "0077";
        RemoveIPC = true;
        KeyringMode = "private";

        PrivateNetwork = true;
        RestrictAddressFamilies = "AF_UNIX";
        IPAddressDeny = "any";

        RestrictNamespaces = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged @resources" ];
        SystemCallErrorNumber = "EPERM";

        StateDirectory = "ci-docker-prune";  # state.json: the last prune (the cooldown across restarts)
        RuntimeDirectory = "ci-docker-prune";

        MemoryMax = "64M";
        TasksMax = 16;
      } // (if writable != [ ] then { ReadWritePaths = writable; } else { })
        // (if tcpListen then {
          PrivateNetwork = false;
          RestrictAddressFamilies = "AF_UNIX AF_INET AF_INET6";
          IPAddressAllow = "localhost";
        } else { });
    };
  };
}
