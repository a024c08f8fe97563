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
}
