using System.CommandLine;
using HepDb.Accounts;
using HepDb.Api;
using HepDb.Audit;
using HepDb.Backups;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Cli;

/// <summary>
/// <c>hepdb-admin backup …</c>: the operator's view of backups (issue 13). Every action goes through
/// <see cref="BackupService"/> or <see cref="BackupScheduler"/>, the same paths the API, the dashboard and the scheduler
/// use; the tool only finds the database (by id, whatever its account) and prints the answer.
/// </summary>
internal static class BackupCommands
{
    /// <summary>The <c>backup</c> command group. <paramref name="withServices"/> and <paramref name="refuse"/> are the
    /// tool's own (<see cref="AdminTool.RunAsync"/>): the services for one command, and a refusal's message and exit code.</summary>
    public static Command Create(Func<ParseResult, Func<IServiceProvider, Task<int>>, Task<int>> withServices, Func<Problem, int> refuse,
        TextWriter output, TextWriter error)
    {
        var backup = new Command("backup", "Backups of tenant databases");

        var accountFilter = new Option<string?>("--account") { Description = "Only this account's backups (id or email)" };
        var databaseFilter = new Option<string?>("--database") { Description = "Only this database's backups (its id; also a deleted one's)" };
        var all = new Option<bool>("--all") { Description = "Also running backups and the safety copies restores take" };
        var list = new Command("list",
            "Backups, newest first: id, created, account, database, db name, engine, kind, status, size bytes, duration ms, error; tab-separated")
            { accountFilter, databaseFilter, all };
        list.SetAction((p, ct) => withServices(p, async sp =>
        {
            var query = sp.GetRequiredService<HepDbContext>().Backups.AsNoTracking();
            if (p.GetValue(accountFilter) is { } reference)
            {
                var target = await sp.GetRequiredService<AccountService>().GetAsync(reference, ct);
                if (!target.Ok) return refuse(target.Problem!);
                var accountId = target.Value!.Id;
                query = query.Where(b => b.AccountId == accountId);
            }
            if (p.GetValue(databaseFilter) is { } databaseId) query = query.Where(b => b.DatabaseId == databaseId);
            query = p.GetValue(all) ? query.OrderByDescending(b => b.CreatedAt).ThenByDescending(b => b.Id) : BackupService.Listed(query);
            foreach (var b in await query.ToListAsync(ct))
                output.WriteLine(string.Join('\t', b.Id, DatabaseView.Iso(b.CreatedAt), b.AccountId, b.DatabaseId, b.DbName, b.Engine.WireName(),
                    b.Kind.WireName(), b.Status.WireName(), b.SizeBytes, b.DurationMs, OneLine(b.Error)));
            return 0;
        }));
        backup.Subcommands.Add(list);

        var database = new Option<string>("--database") { Description = "The database's id", Required = true };
        var run = new Command("run", "Back up a database now (a manual backup, outside the tenant's daily limit); prints its id and size in bytes, tab-separated")
            { database };
        run.SetAction((p, ct) => withServices(p, async sp =>
        {
            var record = await FindAsync(sp, p.GetValue(database)!, ct);
            if (record is null) return refuse(ApiErrors.DatabaseNotFound);
            var taken = await sp.GetRequiredService<BackupService>().RunAsync(record, BackupKind.Manual, Actor.Operator, ct);
            if (!taken.Ok) return refuse(taken.Problem!);
            output.WriteLine($"{taken.Value!.Id}\t{taken.Value.SizeBytes}");
            return 0;
        }));
        backup.Subcommands.Add(run);

        var backupId = new Option<string>("--backup") { Description = "The id of one of the database's complete backups", Required = true };
        var restore = new Command("restore", "Replace a database's contents with one of its backups; prints 'restored'") { database, backupId };
        restore.SetAction((p, ct) => withServices(p, async sp =>
        {
            var record = await FindAsync(sp, p.GetValue(database)!, ct);
            if (record is null) return refuse(ApiErrors.DatabaseNotFound);
            var restored = await sp.GetRequiredService<BackupService>().RestoreAsync(record.AccountId, record.Id, p.GetValue(backupId)!, Actor.Operator, ct);
            if (!restored.Ok) return refuse(restored.Problem!);
            output.WriteLine("restored");
            return 0;
        }));
        backup.Subcommands.Add(restore);

        var purge = new Command("purge",
            "Run one backup-scheduler pass now (finish interrupted work, remove expired backups, take due daily ones); prints what it did");
        purge.SetAction((p, ct) => withServices(p, async sp =>
        {
            var report = (await sp.GetRequiredService<BackupScheduler>().RunOnceAsync(ct, requireLease: false))!;
            output.WriteLine($"taken {report.Taken}, failed {report.Failed}, purged {report.Purged}, recovered {report.Recovered}");
            return 0;
        }));
        backup.Subcommands.Add(purge);

        return backup;
    }

    /// <summary>A ready database by its id alone (the operator is not one of its account's callers).</summary>
    private static Task<TenantDatabase?> FindAsync(IServiceProvider sp, string id, CancellationToken ct) =>
        sp.GetRequiredService<HepDbContext>().Databases.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id && d.Phase == DatabasePhase.Ready, ct);

    /// <summary>An error kept on one line of the listing (a dump tool's message may span several), or "-".</summary>
    private static string OneLine(string? text) =>
        string.IsNullOrWhiteSpace(text) ? "-" : string.Join(' ', text.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
