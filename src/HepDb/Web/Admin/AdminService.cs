using HepDb.Accounts;
using HepDb.Api;
using HepDb.ApiKeys;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Hosting.LocalEngines;
using HepDb.Quotas;
using HepDb.Web.Users;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Web.Admin;

public sealed record AccountRow(Account Account, int Databases, long UsedBytes);

public sealed record AccountDetail(
    Account Account, EffectiveLimits Limits, long UsedBytes, IReadOnlyList<PackGrant> Packs,
    IReadOnlyList<TenantDatabase> Databases, IReadOnlyList<ApiKey> Keys, IReadOnlyList<DashboardUser> Users, AuditView Audit);

public sealed record EngineRow(EngineKind Kind, EngineAvailability Availability, bool ConfiguredEnabled, bool SwitchedOff,
    string? Host, int? Port, EngineProbe? Probe, int Databases, LocalEngineState? Supervisor = null);

/// <summary>What the operators' admin area reads and changes. Changes to accounts go through the same services as
/// everywhere else (tier and packs: <see cref="PackService"/>; suspension: <see cref="Suspension"/>).</summary>
public sealed class AdminService(HepDbContext db, EngineRegistry engines, AccountService accounts, LocalEngineStatus local, TimeProvider time)
{
    public async Task<List<AccountRow>> SearchAsync(string? query, CancellationToken ct)
    {
        var q = query?.Trim().ToLowerInvariant() ?? "";
        var found = await db.Accounts.AsNoTracking()
            .Where(a => q == "" || a.Email.Contains(q) || a.Id == query!.Trim())
            .OrderByDescending(a => a.CreatedAt).Take(100).ToListAsync(ct);
        var ids = found.Select(a => a.Id).ToList();
        var usage = await db.Databases.Where(d => ids.Contains(d.AccountId)).GroupBy(d => d.AccountId)
            .Select(g => new { g.Key, Count = g.Count(), Bytes = g.Sum(d => d.SizeBytes) }).ToDictionaryAsync(x => x.Key, ct);
        return found.Select(a => new AccountRow(a, usage.GetValueOrDefault(a.Id)?.Count ?? 0, usage.GetValueOrDefault(a.Id)?.Bytes ?? 0)).ToList();
    }

    public async Task<AccountDetail?> DetailAsync(string accountId, CancellationToken ct)
    {
        var account = await db.Accounts.AsNoTracking().FirstOrDefaultAsync(a => a.Id == accountId, ct);
        if (account is null) return null;
        return new AccountDetail(
            account,
            await accounts.LimitsAsync(account, ct),
            await accounts.UsedBytesAsync(accountId, ct),
            await db.PackGrants.AsNoTracking().Where(p => p.AccountId == accountId).OrderByDescending(p => p.ExpiresAt).ToListAsync(ct),
            await db.Databases.AsNoTracking().Where(d => d.AccountId == accountId).OrderBy(d => d.CreatedAt).ToListAsync(ct),
            await db.ApiKeys.AsNoTracking().Where(k => k.AccountId == accountId).OrderBy(k => k.CreatedAt).ToListAsync(ct),
            await db.DashboardUsers.AsNoTracking().Where(u => u.AccountId == accountId).ToListAsync(ct),
            await AuditView.LoadAsync(db, accountId, null, 50, ct));
    }

    public async Task<List<EngineRow>> EnginesAsync(CancellationToken ct)
    {
        await Fleet.FleetSync.LoadAsync(db, engines, ct);
        var counts = await db.Databases.GroupBy(d => d.Engine).Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(x => x.Key, x => x.Count, ct);
        var rows = new List<EngineRow>();
        foreach (var kind in EngineKinds.All)
        {
            var adapter = engines.Primary(kind)?.Adapter;
            var probe = adapter is null ? null : await adapter.ProbeAsync(ct);
            rows.Add(new EngineRow(kind, engines.Availability(kind), engines.ConfiguredEnabled(kind), engines.IsSwitchedOff(kind),
                adapter?.Server.Host, adapter?.Server.Port, probe, counts.GetValueOrDefault(kind), adapter is null ? null : local.For(adapter)));
        }
        return rows;
    }

    public Task<List<JobRun>> RecentRunsAsync(string job, int take, CancellationToken ct) =>
        db.JobRuns.AsNoTracking().Where(r => r.Job == job).OrderByDescending(r => r.StartedAt).Take(take).ToListAsync(ct);

    /// <summary>Turns new databases on an engine on or off for every replica. MariaDB is always on.</summary>
    public async Task<Problem?> SetEngineEnabledAsync(EngineKind kind, bool enabled, Actor actor, CancellationToken ct)
    {
        if (kind == EngineKind.MariaDb && !enabled) return ApiErrors.MariaDbAlwaysOn;
        var row = await db.EngineSwitches.FirstOrDefaultAsync(s => s.Engine == kind, ct);
        if (row is null) db.EngineSwitches.Add(row = new EngineSwitch { Engine = kind, ChangedBy = actor.Id });
        row.Enabled = enabled;
        row.ChangedAt = time.GetUtcNow().UtcDateTime;
        row.ChangedBy = actor.Id;
        db.Record(time, actor, null, enabled ? "engine.enabled" : "engine.disabled", kind.WireName());
        await db.SaveChangesAsync(ct);
        await Fleet.FleetSync.LoadAsync(db, engines, ct);
        return null;
    }
}
