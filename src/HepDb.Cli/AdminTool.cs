using System.CommandLine;
using HepDb.Accounts;
using HepDb.Api;
using HepDb.ApiKeys;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Engines;
using HepDb.Hosting;
using HepDb.Quotas;
using HepDb.Web.Admin;
using HepDb.Web.Users;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HepDb.Cli;

/// <summary>
/// hepdb-admin: the operator's own tool on the host (not an HTTP endpoint). It reads the same configuration as the
/// server (appsettings.json in the working directory, then HepDb__* environment variables), applies pending
/// migrations, and prints plain values on stdout so scripts can capture them. Exit codes: 0 done; 1 refused (a catalog
/// problem, its message on stderr, nothing changed) or partly done (engine steps left to the quota watcher); 64 usage;
/// 70 unexpected: a bug, or a metadata store that cannot be reached (the exception and its stack trace on stderr).
/// </summary>
public static class AdminTool
{
    public const int Refused = 1, Usage = 64, Bug = 70;

    /// <summary>Runs one command. <paramref name="settings"/> are laid over the configuration, after environment
    /// variables (tests run the tool in-process with their own store this way).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, TextReader input,
        IEnumerable<KeyValuePair<string, string?>>? settings = null)
    {
        var root = new RootCommand("HepDb operator commands");
        var configFile = new Option<string?>("--config") { Description = "An extra JSON settings file", Recursive = true };
        root.Options.Add(configFile);

        var email = new Option<string>("--email") { Description = "The account's email address", Required = true };
        var tier = new Option<string>("--tier") { Description = "free | premium | admin", DefaultValueFactory = _ => Tier.Free.WireName() };
        var accountRef = new Option<string>("--account") { Description = "Account id or email", Required = true };
        var label = new Option<string?>("--label") { Description = "A label shown in the dashboard" };

        var account = new Command("account", "Accounts");
        var accountCreate = new Command("create", "Create an account; prints its id") { email, tier };
        accountCreate.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            var created = await sp.GetRequiredService<AccountService>().CreateAsync(p.GetValue(email), p.GetValue(tier), Actor.Operator, ct);
            if (!created.Ok) return Refuse(created.Problem!);
            output.WriteLine(created.Value!.Id);
            return 0;
        }));
        account.Subcommands.Add(accountCreate);

        var tierArg = new Option<string>("--tier") { Description = "free | premium | admin", Required = true };
        var setTier = new Command("set-tier", "Change an account's tier; connection limits follow on every database") { accountRef, tierArg };
        setTier.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            var target = await sp.GetRequiredService<AccountService>().GetAsync(p.GetValue(accountRef)!, ct);
            if (!target.Ok) return Refuse(target.Problem!);
            var set = await sp.GetRequiredService<PackService>().SetTierAsync(target.Value!.Id, p.GetValue(tierArg), Actor.Operator, ct);
            if (!set.Ok) return Refuse(set.Problem!);
            output.WriteLine(set.Value!.Tier.WireName());
            return 0;
        }));
        account.Subcommands.Add(setTier);

        var reason = new Option<string>("--reason") { Description = "Why (kept in the audit log, which the user sees too)", Required = true };
        var suspend = new Command("suspend", "Suspend: disable every key, lock every database user and end its sessions") { accountRef, reason };
        suspend.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            var target = await sp.GetRequiredService<AccountService>().GetAsync(p.GetValue(accountRef)!, ct);
            if (!target.Ok) return Refuse(target.Problem!);
            return Report("suspended", await sp.GetRequiredService<Suspension>().SuspendAsync(target.Value!.Id, p.GetValue(reason), Actor.Operator, ct));
        }));
        account.Subcommands.Add(suspend);

        var unsuspend = new Command("unsuspend", "Lift a suspension and restore exactly the earlier state") { accountRef, reason };
        unsuspend.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            var target = await sp.GetRequiredService<AccountService>().GetAsync(p.GetValue(accountRef)!, ct);
            if (!target.Ok) return Refuse(target.Problem!);
            return Report("unsuspended", await sp.GetRequiredService<Suspension>().LiftAsync(target.Value!.Id, p.GetValue(reason), Actor.Operator, ct));
        }));
        account.Subcommands.Add(unsuspend);

        var pack = new Command("pack", "Packs");
        var packId = new Option<string>("--pack") { Description = "A pack id from the catalogue", DefaultValueFactory = _ => "db-pack" };
        var packGrant = new Command("grant", "Grant a pack to an account; prints its expiry (UTC)") { accountRef, packId };
        packGrant.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            var target = await sp.GetRequiredService<AccountService>().GetAsync(p.GetValue(accountRef)!, ct);
            if (!target.Ok) return Refuse(target.Problem!);
            var grant = await sp.GetRequiredService<PackService>().GrantAsync(target.Value!.Id, p.GetValue(packId)!, "operator", null, Actor.Operator, ct);
            if (!grant.Ok) return Refuse(grant.Problem!);
            output.WriteLine(HepDb.Databases.DatabaseView.Iso(grant.Value!.ExpiresAt));
            return 0;
        }));
        pack.Subcommands.Add(packGrant);
        root.Subcommands.Add(pack);

        var watcher = new Command("watcher", "The quota watcher");
        var watcherRun = new Command("run", "Measure every database now and enforce quotas, even while a server holds the watcher's lease; prints the run's summary");
        watcherRun.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            var report = await sp.GetRequiredService<QuotaWatcher>().RunNowAsync(ct);
            output.WriteLine(report.Summary());
            return report.Servers.All(s => s.Ok) && report.Errors.Count == 0 ? 0 : Refused;
        }));
        watcher.Subcommands.Add(watcherRun);
        root.Subcommands.Add(watcher);
        root.Subcommands.Add(account);

        var key = new Command("key", "Management API keys");
        var keyMint = new Command("mint", "Mint a key for an account; prints the key alone") { accountRef, label };
        keyMint.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            var target = await sp.GetRequiredService<AccountService>().GetAsync(p.GetValue(accountRef)!, ct);
            if (!target.Ok) return Refuse(target.Problem!);
            var minted = await sp.GetRequiredService<ApiKeyService>().MintAsync(target.Value!.Id, p.GetValue(label), Actor.Operator, ct);
            if (!minted.Ok) return Refuse(minted.Problem!);
            output.WriteLine(minted.Value!.Value);
            return 0;
        }));
        key.Subcommands.Add(keyMint);
        root.Subcommands.Add(key);

        var accountList = new Command("list", "List accounts (newest 100, or those matching --search): id, email, tier, state, databases, bytes; tab-separated")
            { new Option<string?>("--search") { Description = "Part of an email, or an account id" } };
        accountList.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            foreach (var r in await sp.GetRequiredService<AdminService>().SearchAsync(p.GetValue<string?>("--search"), ct))
                output.WriteLine(string.Join('\t', r.Account.Id, r.Account.Email, r.Account.Tier.WireName(), r.Account.SuspendedAt is null ? "active" : "suspended", r.Databases, r.UsedBytes));
            return 0;
        }));
        account.Subcommands.Add(accountList);

        var user = new Command("user", "Dashboard users");
        var generate = new Option<bool>("--generate") { Description = "Generate a password and print it, instead of reading one line from stdin" };
        var setPassword = new Command("set-password", "Set the dashboard password of an account's user (creating the user if the account has none)") { accountRef, generate };
        setPassword.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            var target = await sp.GetRequiredService<AccountService>().GetAsync(p.GetValue(accountRef)!, ct);
            if (!target.Ok) return Refuse(target.Problem!);
            var password = p.GetValue(generate) ? HepDb.Security.Secrets.NewDatabasePassword() : input.ReadLine() ?? "";
            if (await sp.GetRequiredService<DashboardUsers>().SetPasswordAsync(target.Value!, password, Actor.Operator, ct) is { } problem) return Refuse(problem);
            if (p.GetValue(generate)) output.WriteLine(password);
            return 0;
        }));
        user.Subcommands.Add(setPassword);
        root.Subcommands.Add(user);

        var operatorCmd = new Command("operator", "Operators: dashboard users who may use the admin area (a right of the user, not a tier)");
        var userEmail = new Option<string>("--email") { Description = "The dashboard user's email address", Required = true };
        foreach (var (verb, on) in new[] { ("grant", true), ("revoke", false) })
        {
            var cmd = new Command(verb, on
                ? "Let a dashboard user use the admin area; prints the user's email"
                : "Shut the admin area to a dashboard user, from their next request on; prints the user's email") { userEmail };
            cmd.SetAction((p, ct) => WithServicesAsync(p, async sp =>
            {
                var set = await sp.GetRequiredService<DashboardUsers>().SetOperatorAsync(p.GetValue(userEmail), on, Actor.Operator, ct);
                if (!set.Ok) return Refuse(set.Problem!);
                output.WriteLine(set.Value!.Email);
                return 0;
            }));
            operatorCmd.Subcommands.Add(cmd);
        }
        var operatorList = new Command("list", "Operators: email, account id, account tier; tab-separated");
        operatorList.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            foreach (var (u, a) in await sp.GetRequiredService<DashboardUsers>().OperatorsAsync(ct))
                output.WriteLine(string.Join('\t', u.Email, a.Id, a.Tier.WireName()));
            return 0;
        }));
        operatorCmd.Subcommands.Add(operatorList);
        root.Subcommands.Add(operatorCmd);

        var engine = new Command("engine", "Engine servers");
        var engineList = new Command("list", "Engines: name, availability, health (up, down, or restarting (attempt N, last exit: …) for a local server being restarted), server, databases; tab-separated");
        engineList.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            foreach (var e in await sp.GetRequiredService<AdminService>().EnginesAsync(ct))
                output.WriteLine(string.Join('\t', e.Kind.WireName(), e.Availability.ToString().ToLowerInvariant(),
                    e.Probe is null ? "no-server" : e.Probe.Up ? "up" : e.Supervisor is { Restarting: true } s ? s.Describe() : "down", e.Host is null ? "-" : $"{e.Host}:{e.Port}", e.Databases));
            return 0;
        }));
        engine.Subcommands.Add(engineList);
        var engineName = new Argument<string>("engine") { Description = "mariadb | postgres | mongo" };
        foreach (var (verb, on) in new[] { ("enable", true), ("disable", false) })
        {
            var cmd = new Command(verb, on ? "Allow new databases on an engine again" : "Refuse new databases on an engine (ENGINE_DISABLED); existing ones keep working") { engineName };
            cmd.SetAction((p, ct) => WithServicesAsync(p, async sp =>
            {
                if (!EngineKinds.TryParse(p.GetValue(engineName), out var kind)) return Refuse(ApiErrors.InvalidEngine());
                if (await sp.GetRequiredService<AdminService>().SetEngineEnabledAsync(kind, on, Actor.Operator, ct) is { } problem) return Refuse(problem);
                output.WriteLine($"{kind.WireName()} {verb}d");
                return 0;
            }));
            engine.Subcommands.Add(cmd);
        }
        root.Subcommands.Add(engine);

        var audit = new Command("audit", "The audit log");
        var auditAccount = new Option<string?>("--account") { Description = "Only this account (id or email)" };
        var auditAction = new Option<string?>("--action") { Description = "Only actions starting with this, e.g. key. or database." };
        var auditLimit = new Option<int>("--limit") { Description = "How many entries (newest first)", DefaultValueFactory = _ => 100 };
        var auditList = new Command("list", "Entries, newest first: time, account, actor, action, target, ip, detail; tab-separated") { auditAccount, auditAction, auditLimit };
        auditList.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            string? accountId = null;
            if (p.GetValue(auditAccount) is { } reference)
            {
                var target = await sp.GetRequiredService<AccountService>().GetAsync(reference, ct);
                if (!target.Ok) return Refuse(target.Problem!);
                accountId = target.Value!.Id;
            }
            foreach (var e in await sp.GetRequiredService<AuditReader>().EntriesAsync(accountId, p.GetValue(auditAction), p.GetValue(auditLimit), ct))
                output.WriteLine(string.Join('\t', HepDb.Databases.DatabaseView.Iso(e.At), e.AccountId ?? "-", e.Actor, e.Action, e.TargetId ?? "-", e.Ip ?? "-", e.Detail ?? "-"));
            return 0;
        }));
        audit.Subcommands.Add(auditList);
        root.Subcommands.Add(audit);
        root.Subcommands.Add(BackupCommands.Create(WithServicesAsync, Refuse, output, error));
        root.Subcommands.Add(ServerCommands.Create(WithServicesAsync, Refuse, output, input));

        var quickstart = new Command("quickstart", "Ensure a local admin-tier account whose user is an operator; print a fresh key labelled 'quickstart' (rotating the previous one) and, on a second line, a fresh dashboard password") { email };
        quickstart.SetAction((p, ct) => WithServicesAsync(p, async sp =>
        {
            var accounts = sp.GetRequiredService<AccountService>();
            var found = await accounts.FindAsync(p.GetValue(email)!, ct);
            var target = found is not null ? found : await accounts.CreateAsync(p.GetValue(email), Tier.Admin.WireName(), Actor.Operator, ct);
            if (!target.Ok) return Refuse(target.Problem!);
            var keys = sp.GetRequiredService<ApiKeyService>();
            var existing = (await keys.ListAsync(target.Value!.Id, ct)).FirstOrDefault(k => k.Label == "quickstart");
            var minted = existing is null
                ? await keys.MintAsync(target.Value.Id, "quickstart", Actor.Operator, ct)
                : await keys.RotateAsync(target.Value.Id, existing.Id, Actor.Operator, ct);
            if (!minted.Ok) return Refuse(minted.Problem!);
            var password = HepDb.Security.Secrets.NewDatabasePassword();
            var dashboardUsers = sp.GetRequiredService<DashboardUsers>();
            if (await dashboardUsers.SetPasswordAsync(target.Value, password, Actor.Operator, ct) is { } problem) return Refuse(problem);
            var granted = await dashboardUsers.SetOperatorAsync(target.Value.Email, true, Actor.Operator, ct);
            if (!granted.Ok) return Refuse(granted.Problem!);
            output.WriteLine(minted.Value!.Value);
            output.WriteLine(password);
            return 0;
        }));
        root.Subcommands.Add(quickstart);

        // A usage error prints what is wrong and the help (System.CommandLine's own answer), with its own exit code. Anything
        // thrown is a bug, never a refusal: it is not caught by System.CommandLine's handler (which would answer 1 like a
        // refusal) but printed whole, stack trace included.
        var parsed = root.Parse(args);
        try
        {
            var exit = await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = output, Error = error });
            return parsed.Errors.Count > 0 ? Usage : exit;
        }
        catch (Exception e)
        {
            error.WriteLine($"hepdb-admin: unexpected error:{Environment.NewLine}{e}");
            return Bug;
        }

        async Task<int> WithServicesAsync(ParseResult parse, Func<IServiceProvider, Task<int>> work)
        {
            var config = new ConfigurationBuilder()
                .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true)
                .AddJsonFile(parse.GetValue(configFile) ?? "/nonexistent/hepdb.json", optional: parse.GetValue(configFile) is null)
                .AddEnvironmentVariables()
                .AddInMemoryCollection(settings ?? [])
                .Build();
            var services = new ServiceCollection()
                .AddSingleton<IConfiguration>(config)
                .AddLogging(l => l.AddConfiguration(config.GetSection("Logging")).SetMinimumLevel(LogLevel.Warning))
                .AddHepDbServices()
                .BuildServiceProvider();
            await using (services)
            {
                await MetadataStore.MigrateAsync(services);
                await HepDb.Fleet.FleetSync.RegisterConfiguredAsync(services, CancellationToken.None);
                await using var scope = services.CreateAsyncScope();
                return await work(scope.ServiceProvider);
            }
        }

        // A suspension or its lifting: refused, or done with the engine steps that failed (retried by the quota watcher).
        int Report(string done, Outcome<IReadOnlyList<string>> outcome)
        {
            if (!outcome.Ok) return Refuse(outcome.Problem!);
            output.WriteLine(done);
            foreach (var e in outcome.Value!) error.WriteLine($"hepdb-admin: {e} (will be retried by the quota watcher)");
            return outcome.Value.Count == 0 ? 0 : Refused;
        }

        int Refuse(Problem problem)
        {
            error.WriteLine($"hepdb-admin: {problem.Message}");
            return Refused;
        }
    }
}
