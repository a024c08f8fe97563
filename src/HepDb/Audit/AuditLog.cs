using HepDb.Data;
using HepDb.Hosting;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Audit;

/// <summary>Who did something: an API key, a dashboard user, the operator tool, or HepDb itself.</summary>
public sealed record Actor(string Id, string? Ip)
{
    public static Actor Key(string keyId, string? ip) => new($"key:{keyId}", ip);
    public static Actor User(string userId, string? ip) => new($"user:{userId}", ip);
    public static readonly Actor Operator = new("operator", null);
    /// <summary>An operator acting in the admin area, as themselves.</summary>
    public static Actor OperatorUser(string userId, string? ip) => new($"operator:{userId}", ip);
    /// <summary>Someone signing up: there is no user yet to name.</summary>
    public static Actor SignUp(string? ip) => new("signup", ip);
    public static readonly Actor System = new("system", null);
}

/// <summary>Adds audit entries to the caller's unit of work, so an entry is saved exactly when the change it describes is.</summary>
public static class AuditLog
{
    public static void Record(this HepDbContext db, TimeProvider time, Actor actor, string? accountId, string action,
        string? targetId = null, string? detail = null) =>
        db.AuditLog.Add(new AuditEntry
        {
            Id = Ulid.New(time),
            At = time.GetUtcNow().UtcDateTime,
            AccountId = accountId,
            Actor = actor.Id,
            Action = action,
            TargetId = targetId,
            Ip = actor.Ip,
            Detail = detail,
        });

    /// <summary>The audit log, newest first, optionally for one account and/or actions starting with a prefix.</summary>
    public static Task<List<AuditEntry>> QueryAsync(this HepDbContext db, string? accountId, string? actionPrefix, int take, CancellationToken ct) =>
        db.AuditLog.AsNoTracking()
            .Where(a => accountId == null || a.AccountId == accountId)
            .Where(a => actionPrefix == null || a.Action.StartsWith(actionPrefix))
            .OrderByDescending(a => a.At).ThenByDescending(a => a.Id).Take(Math.Clamp(take, 1, 1000)).ToListAsync(ct);

    /// <summary>Readable names for the actors of <paramref name="entries"/>: a user's email, a key's label and prefix.
    /// Actors that are gone (a deleted key) keep their raw id.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> ActorNamesAsync(this HepDbContext db, IEnumerable<AuditEntry> entries, CancellationToken ct)
    {
        var actors = entries.Select(e => e.Actor).Distinct().ToList();
        static string IdOf(string actor) => actor[(actor.IndexOf(':') + 1)..];
        var userIds = actors.Where(a => a.StartsWith("user:", StringComparison.Ordinal) || a.StartsWith("operator:", StringComparison.Ordinal)).Select(IdOf).ToList();
        var keyIds = actors.Where(a => a.StartsWith("key:", StringComparison.Ordinal)).Select(IdOf).ToList();
        var users = await db.DashboardUsers.AsNoTracking().Where(u => userIds.Contains(u.Id)).ToDictionaryAsync(u => u.Id, u => u.Email, ct);
        var keys = await db.ApiKeys.AsNoTracking().Where(k => keyIds.Contains(k.Id)).ToDictionaryAsync(k => k.Id, k => (k.Label, k.Prefix), ct);
        var names = new Dictionary<string, string>();
        foreach (var actor in actors)
        {
            var id = IdOf(actor);
            if (actor.StartsWith("key:", StringComparison.Ordinal) && keys.TryGetValue(id, out var key))
                names[actor] = $"key {(string.IsNullOrEmpty(key.Label) ? "" : $"\"{key.Label}\" ")}{key.Prefix}…";
            else if (actor.StartsWith("user:", StringComparison.Ordinal) && users.TryGetValue(id, out var email))
                names[actor] = email;
            else if (actor.StartsWith("operator:", StringComparison.Ordinal) && users.TryGetValue(id, out var operatorEmail))
                names[actor] = $"operator {operatorEmail}";
        }
        return names;
    }
}

/// <summary>What the audit table shows: the entries and readable names for their actors.</summary>
public sealed record AuditView(IReadOnlyList<AuditEntry> Entries, IReadOnlyDictionary<string, string> ActorNames)
{
    public string Who(AuditEntry e) => ActorNames.TryGetValue(e.Actor, out var name) ? name : e.Actor;

    public static async Task<AuditView> LoadAsync(HepDbContext db, string? accountId, string? actionPrefix, int take, CancellationToken ct)
    {
        var entries = await db.QueryAsync(accountId, actionPrefix, take, ct);
        return new AuditView(entries, await db.ActorNamesAsync(entries, ct));
    }
}
