using System.CommandLine;
using HepDb.Api;
using HepDb.Audit;
using HepDb.Engines;
using HepDb.Fleet;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Cli;

/// <summary>
/// <c>hepdb-admin server …</c>: the engine servers of the fleet. Every change goes through <see cref="FleetService"/>
/// and every move through <see cref="DatabaseMover"/>, the paths the admin area uses too; the tool only reads the
/// arguments (the admin password from stdin, never from an argument, which other users of the host could see) and
/// prints the answer.
/// </summary>
internal static class ServerCommands
{
    /// <summary>The <c>server</c> command group. <paramref name="withServices"/> and <paramref name="refuse"/> are the
    /// tool's own (<see cref="AdminTool.RunAsync"/>): the services for one command, and a refusal's message and exit code.</summary>
    public static Command Create(Func<ParseResult, Func<IServiceProvider, Task<int>>, Task<int>> withServices, Func<Problem, int> refuse,
        TextWriter output, TextReader input)
    {
        var server = new Command("server", "Engine servers: the fleet each engine's databases are placed on");

        var list = new Command("list",
            "Servers: engine, name, state, host:port, databases, bytes, capacity, health (up or down); tab-separated");
        list.SetAction((p, ct) => withServices(p, async sp =>
        {
            foreach (var s in await sp.GetRequiredService<FleetService>().ListAsync(probe: true, ct))
                output.WriteLine(string.Join('\t', s.Row.Engine.WireName(), s.Row.Name, s.Row.State.WireName(), s.Endpoint, s.Databases, s.Bytes,
                    Capacity(s.Row), s.Probe is { Up: true } ? "up" : "down"));
            return 0;
        }));
        server.Subcommands.Add(list);

        var engine = new Option<string?>("--engine") { Description = "mariadb | postgres | mongo (needed when several engines have a server of that name)" };
        var newEngine = new Option<string>("--engine") { Description = "mariadb | postgres | mongo", Required = true };
        var newName = new Option<string>("--name") { Description = "The server's name: a-z, 0-9 and '-'; its id is ENGINE/NAME", Required = true };
        var host = new Option<string?>("--host") { Description = "Where HepDb reaches the server as administrator" };
        var port = new Option<int?>("--port") { Description = "The server's port" };
        var publicHost = new Option<string?>("--public-host") { Description = "The host connection strings name (default: --host; empty: back to --host)" };
        var publicPort = new Option<int?>("--public-port") { Description = "The port connection strings name (default: --port)" };
        var adminUser = new Option<string?>("--admin-user") { Description = "The administrator HepDb connects as" };
        var maxDatabases = new Option<int?>("--max-databases") { Description = "Capacity: at most this many databases (0: no limit)" };
        var maxBytes = new Option<long?>("--max-bytes") { Description = "Capacity: at most this many bytes of databases (0: no limit)" };
        var requireTls = new Option<bool>("--require-tls") { Description = "Connect to the server with TLS only, and make its users do the same" };
        var caFile = new Option<string?>("--ca-file") { Description = "The CA certificate the server's TLS certificate is checked against" };
        var hbaFile = new Option<string?>("--hba-file") { Description = "PostgreSQL: the server's pg_hba.conf, for allowlists" };

        var add = new Command("add",
            "Add a server after checking that HepDb reaches it; the admin password is read as one line from stdin. Prints the server's id")
            { newEngine, newName, host, port, publicHost, publicPort, adminUser, maxDatabases, maxBytes, requireTls, caFile, hbaFile };
        add.SetAction((p, ct) => withServices(p, async sp =>
        {
            var settings = new ServerSettings(p.GetValue(host), p.GetValue(port), p.GetValue(publicHost), p.GetValue(publicPort), p.GetValue(adminUser),
                AdminPassword: input.ReadLine() ?? "", MaxDatabases: p.GetValue(maxDatabases), MaxBytes: p.GetValue(maxBytes), RequireTls: p.GetValue(requireTls),
                CaCertificateFile: p.GetValue(caFile), HbaFile: p.GetValue(hbaFile));
            var added = await sp.GetRequiredService<FleetService>().AddAsync(p.GetValue(newEngine), p.GetValue(newName), settings, Actor.Operator, ct);
            if (!added.Ok) return refuse(added.Problem!);
            output.WriteLine(added.Value!.Id);
            return 0;
        }));
        server.Subcommands.Add(add);

        var name = new Argument<string>("server") { Description = "The server's name (default), or its id (mariadb/default)" };
        var state = new Option<string?>("--state") { Description = "active | draining | disabled" };
        var passwordFromStdin = new Option<bool>("--admin-password-stdin") { Description = "Read a new admin password as one line from stdin" };
        var set = new Command("set", "Change a server's address, capacity or state (the configured server: only its public address, capacity and state); prints its id")
            { name, engine, publicHost, publicPort, maxDatabases, maxBytes, state, host, port, adminUser, passwordFromStdin };
        set.SetAction((p, ct) => withServices(p, async sp =>
        {
            ServerState? newState = null;
            if (p.GetValue(state) is { } wire)
            {
                if (!ServerStates.TryParse(wire, out var parsed)) return refuse(ApiErrors.InvalidServer($"'{wire}' is not a server state: active, draining or disabled."));
                newState = parsed;
            }
            var settings = new ServerSettings(p.GetValue(host), p.GetValue(port), p.GetValue(publicHost), p.GetValue(publicPort), p.GetValue(adminUser),
                AdminPassword: p.GetValue(passwordFromStdin) ? input.ReadLine() ?? "" : null, MaxDatabases: p.GetValue(maxDatabases), MaxBytes: p.GetValue(maxBytes),
                State: newState);
            var changed = await sp.GetRequiredService<FleetService>().SetAsync(p.GetValue(name)!, p.GetValue(engine), settings, Actor.Operator, ct);
            if (!changed.Ok) return refuse(changed.Problem!);
            output.WriteLine(changed.Value!.Id);
            return 0;
        }));
        server.Subcommands.Add(set);

        foreach (var (verb, wanted) in new[] { ("drain", ServerState.Draining), ("undrain", ServerState.Active) })
        {
            var cmd = new Command(verb, wanted == ServerState.Draining
                ? "Keep new databases off a server (its databases stay and keep working); prints '<id> draining'"
                : "Let a server take new databases again; prints '<id> active'") { name, engine };
            cmd.SetAction((p, ct) => withServices(p, async sp =>
            {
                var changed = await sp.GetRequiredService<FleetService>().SetAsync(p.GetValue(name)!, p.GetValue(engine), new ServerSettings(State: wanted), Actor.Operator, ct);
                if (!changed.Ok) return refuse(changed.Problem!);
                output.WriteLine($"{changed.Value!.Id} {wanted.WireName()}");
                return 0;
            }));
            server.Subcommands.Add(cmd);
        }

        var remove = new Command("remove", "Remove a server that holds no database; prints '<id> removed'") { name, engine };
        remove.SetAction((p, ct) => withServices(p, async sp =>
        {
            var removed = await sp.GetRequiredService<FleetService>().RemoveAsync(p.GetValue(name)!, p.GetValue(engine), Actor.Operator, ct);
            if (!removed.Ok) return refuse(removed.Problem!);
            output.WriteLine($"{removed.Value!.Id} removed");
            return 0;
        }));
        server.Subcommands.Add(remove);

        var database = new Option<string>("--database") { Description = "The database's id", Required = true };
        var to = new Option<string>("--to") { Description = "The server of its engine to move it to: its name (b) or id (mariadb/b)", Required = true };
        var move = new Command("move", "Move a database to another server of its engine (same name, user and password; writes wait during the copy); prints '<id> moved <from> -> <to>'")
            { database, to };
        move.SetAction((p, ct) => withServices(p, async sp =>
        {
            var moved = await sp.GetRequiredService<DatabaseMover>().MoveAsync(p.GetValue(database)!, p.GetValue(to)!, Actor.Operator, ct);
            if (!moved.Ok) return refuse(moved.Problem!);
            output.WriteLine($"{moved.Value!.DatabaseId} moved {moved.Value.From} -> {moved.Value.To}");
            return 0;
        }));
        server.Subcommands.Add(move);

        var evacuate = new Command("evacuate",
            "Drain a server and move each of its databases to where placement puts it; one line per database: id, from, to, ok or why not; tab-separated")
            { name, engine };
        evacuate.SetAction((p, ct) => withServices(p, async sp =>
        {
            var fleet = sp.GetRequiredService<FleetService>();
            var found = fleet.Find(p.GetValue(name)!, p.GetValue(engine));
            if (!found.Ok) return refuse(found.Problem!);
            var target = found.Value!;
            if (target.Row.State == ServerState.Active)
            {
                // Nothing new may land on it while its databases leave.
                var drained = await fleet.SetAsync(target.Id, null, new ServerSettings(State: ServerState.Draining), Actor.Operator, ct);
                if (!drained.Ok) return refuse(drained.Problem!);
                target = drained.Value!;
            }
            var results = await sp.GetRequiredService<DatabaseMover>().EvacuateAsync(target, Actor.Operator, ct);
            foreach (var r in results)
                output.WriteLine(string.Join('\t', r.DatabaseId, r.From, r.To ?? "-", r.Problem?.Message ?? "ok"));
            return results.All(r => r.Problem is null) ? 0 : AdminTool.Refused;
        }));
        server.Subcommands.Add(evacuate);

        return server;
    }

    /// <summary>A server's capacity as <c>max 100 databases</c>, <c>max 100 databases, 10737418240 bytes</c>,
    /// <c>max 10737418240 bytes</c> or <c>unlimited</c>.</summary>
    private static string Capacity(EngineServer row) => (row.MaxDatabases, row.MaxBytes) switch
    {
        (null, null) => "unlimited",
        ({ } d, null) => $"max {d} databases",
        (null, { } b) => $"max {b} bytes",
        ({ } d, { } b) => $"max {d} databases, {b} bytes",
    };
}
