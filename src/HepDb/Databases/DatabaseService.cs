using HepDb.Accounts;
using HepDb.Api;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Engines;
using HepDb.Hosting;
using HepDb.Quotas;
using HepDb.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace HepDb.Databases;

/// <summary>
/// The one path for every database action, shared by the management API and the dashboard, so limits, quota checks
/// and audit entries are identical on both.
///
/// Provisioning is crash-safe by ordering: (1) the slot is reserved by inserting a <c>provisioning</c> record in a
/// transaction that first updates the account row, which serializes concurrent creates per account on both metadata
/// providers; (2) the engine work runs, idempotently; (3) the record becomes <c>ready</c>. A failure in (2) undoes the
/// engine work and deletes the record; a crash anywhere leaves a record the <see cref="Reconciler"/> finishes or rolls
/// back. Engine objects therefore never exist without a record, which is what makes orphan detection safe.
/// </summary>
public sealed class DatabaseService(
    HepDbContext db, EngineRegistry engines, SecretBox box, TimeProvider time, IOptions<TiersOptions> tiers,
    AccountEnforcer enforcer, Backups.BackupService backups, ILogger<DatabaseService> logger)
{
    public const int MaxNameLength = 64;
    public static readonly TimeSpan IdempotencyWindow = TimeSpan.FromHours(24);

    public Task<List<TenantDatabase>> ListAsync(string accountId, CancellationToken ct) =>
        DatabaseLists.Listed(db.Databases.AsNoTracking(), accountId).ToListAsync(ct);

    public static Problem? ValidateName(string? name)
    {
        var trimmed = name?.Trim();
        if (string.IsNullOrEmpty(trimmed)) return ApiErrors.InvalidName("name is required and cannot be blank.");
        if (trimmed.Length > MaxNameLength) return ApiErrors.InvalidName($"name must be at most {MaxNameLength} characters.");
        if (trimmed.Any(char.IsControl)) return ApiErrors.InvalidName("name cannot contain control characters.");
        return null;
    }

    /// <summary>Checks the engine value: known (INVALID_ENGINE), enabled here (ENGINE_DISABLED).</summary>
    public Outcome<EngineKind> ValidateEngine(string? engine)
    {
        if (!EngineKinds.TryParse(engine, out var kind)) return ApiErrors.InvalidEngine();
        return engines.Availability(kind) switch
        {
            EngineAvailability.Enabled => kind,
            EngineAvailability.Disabled => ApiErrors.EngineDisabled(kind.WireName(), ""),
            _ => ApiErrors.EngineDisabled(kind.WireName(), ": no server is configured for it"),
        };
    }

    public async Task<Outcome<DatabaseAccess>> CreateAsync(string accountId, string? name, string? engine, Actor actor,
        string? idempotencyKey, CancellationToken ct)
    {
        var created = await CreateOnceAsync(accountId, name, engine, actor, idempotencyKey, ct);
        var kind = ValidateEngine(engine);
        Counted(created.Value?.Database.Id, kind.Ok ? kind.Value.WireName() : "unknown", "create", created.Problem);
        return created;
    }

    private async Task<Outcome<DatabaseAccess>> CreateOnceAsync(string accountId, string? name, string? engine, Actor actor,
        string? idempotencyKey, CancellationToken ct)
    {
        if (ValidateName(name) is { } nameProblem) return nameProblem;
        var kind = ValidateEngine(engine);
        if (!kind.Ok) return kind.Problem!;
        var requestHash = Secrets.Sha256Hex($"{engine}\n{name}");

        if (idempotencyKey is not null && await ReplayAsync(accountId, idempotencyKey, requestHash, ct) is { } replay)
            return replay;

        var password = Secrets.NewDatabasePassword();
        var reservation = await ReserveAsync(accountId, name!.Trim(), kind.Value, password, idempotencyKey, requestHash, ct);
        if (reservation is Reservation.Refused refused) return refused.Problem;
        if (reservation is Reservation.KeyTakenFirst) return await ReplayAsync(accountId, idempotencyKey!, requestHash, ct) ?? ApiErrors.Internal;
        var record = ((Reservation.Made)reservation).Record;

        // From here on the work is finished or undone even if the client goes away: a half-created database must not
        // wait for the reconciler just because a request was cancelled. A server that cannot be reached at all hands
        // the reservation on to the next candidate.
        var tried = new HashSet<string>();
        while (true)
        {
            var adapter = engines.Get(kind.Value, record.ServerId);
            try
            {
                await adapter.CreateTenantAsync(Spec(record, password), CancellationToken.None);
                break;
            }
            catch (Exception e)
            {
                logger.CreateFailed(record.DbName, adapter.Kind, e.GetType().Name);
                var untouched = e is EngineUnavailableException { BeforeAnyChange: true };
                if (untouched)
                {
                    engines.ReportProbe(record.ServerId, up: false, time.GetUtcNow().UtcDateTime);
                    tried.Add(record.ServerId);
                    if (await PlaceAgainAsync(record, tried)) continue;
                }
                await UndoReservationAsync(record, adapter, untouched);
                if (e is EngineUnavailableException) return ApiErrors.EngineUnavailable(adapter.Kind.DisplayName(), ApiErrors.Unavailable.Create);
                if (e is EngineCommandException) return ApiErrors.Internal;
                throw;
            }
        }

        record.Phase = DatabasePhase.Ready;
        record.PhaseChangedAt = time.GetUtcNow().UtcDateTime;
        db.Record(time, actor, accountId, "database.created", record.Id, $"{record.Engine.WireName()} {record.DbName}");
        await db.SaveChangesAsync(CancellationToken.None);
        return DatabaseAccess.From(record, engines.Get(record), password);
    }

    /// <summary>Gives a reservation whose server could not be reached the next candidate, excluding
    /// <paramref name="tried"/>; false when there is none.</summary>
    private async Task<bool> PlaceAgainAsync(TenantDatabase record, IReadOnlySet<string> tried)
    {
        await using var tx = await db.Database.BeginTransactionAsync(CancellationToken.None);
        var next = await Fleet.Placement.ChooseAsync(db, engines, record.Engine, tried, time.GetUtcNow().UtcDateTime, CancellationToken.None);
        if (next is null) return false;
        record.ServerId = next; // stored before the engine work, so a crash leaves the record naming the right server
        await db.SaveChangesAsync(CancellationToken.None);
        await tx.CommitAsync(CancellationToken.None);
        return true;
    }

    /// <summary>Hands out the password the engine takes: when a rotation is pending (in flight, or cut short by a crash),
    /// it is finished first, so the password revealed is never one that does not log in.</summary>
    public async Task<Outcome<DatabaseAccess>> RevealAsync(string accountId, string id, Actor actor, CancellationToken ct) =>
        await CountedAsync(accountId, id, "reveal", await RevealOnceAsync(accountId, id, actor, ct), a => a.Database.Engine, ct);

    private async Task<Outcome<DatabaseAccess>> RevealOnceAsync(string accountId, string id, Actor actor, CancellationToken ct)
    {
        var record = await FindReadyAsync(accountId, id, ct);
        if (record is null) return ApiErrors.DatabaseNotFound;
        if (!TryAdapter(record, out var adapter)) return ApiErrors.EngineUnavailable(record.Engine.WireName(), ApiErrors.Unavailable.Reveal);
        if (record.PendingPasswordSealed is { } pending)
        {
            try
            {
                await FinishRotationAsync(record, adapter, pending, ct);
            }
            catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
            {
                return e is EngineCommandException ? ApiErrors.Internal : ApiErrors.EngineUnavailable(adapter.Kind.DisplayName(), ApiErrors.Unavailable.Reveal);
            }
        }
        db.Record(time, actor, accountId, "database.password_revealed", record.Id);
        await db.SaveChangesAsync(ct);
        return DatabaseAccess.From(record, adapter, box.Decrypt(record.PasswordSealed, record.Id));
    }

    /// <summary>Rotation claims the record by writing the sealed new password as pending (only one rotation at a time
    /// can), sets it on the engine, then promotes it. When another rotation is already pending (in flight elsewhere, or
    /// cut short by a crash) that one is finished instead of waited for: its password is as new as this one would be,
    /// and setting it again does no harm to a request still running it. A crash between the steps is finished by the
    /// next reveal, rotate or reconciler pass.</summary>
    public async Task<Outcome<DatabaseAccess>> RotateAsync(string accountId, string id, Actor actor, CancellationToken ct) =>
        await CountedAsync(accountId, id, "rotate", await RotateOnceAsync(accountId, id, actor, ct), a => a.Database.Engine, ct);

    private async Task<Outcome<DatabaseAccess>> RotateOnceAsync(string accountId, string id, Actor actor, CancellationToken ct)
    {
        var record = await FindReadyAsync(accountId, id, ct);
        if (record is null) return ApiErrors.DatabaseNotFound;
        if (await IsSuspendedAsync(accountId, ct)) return ApiErrors.AccountSuspended;
        if (!TryAdapter(record, out var adapter)) return ApiErrors.EngineUnavailable(record.Engine.WireName(), ApiErrors.Unavailable.Rotate);

        var ours = box.Encrypt(Secrets.NewDatabasePassword(), record.Id);
        var pending = await ClaimRotationAsync(record.Id, ours, ct);
        if (pending is null) return ApiErrors.Internal;
        try
        {
            await FinishRotationAsync(record, adapter, pending, ct);
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            if (e is EngineCommandException) return ApiErrors.Internal;
            // Unless the server was never reached, the new password may be set: it stays pending for the next reveal,
            // rotate or reconciler pass to finish. If it was never reached the old password still holds: our claim goes.
            if (e is not EngineUnavailableException { BeforeAnyChange: true } || pending != ours)
                return ApiErrors.EngineUnavailable(adapter.Kind.DisplayName(), ApiErrors.Unavailable.RotateUnsettled);
            await db.Databases.Where(d => d.Id == record.Id && d.PendingPasswordSealed == ours)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.PendingPasswordSealed, (string?)null).SetProperty(d => d.PendingSince, (DateTime?)null), CancellationToken.None);
            return ApiErrors.EngineUnavailable(adapter.Kind.DisplayName(), ApiErrors.Unavailable.Rotate);
        }
        db.Record(time, actor, accountId, "database.password_rotated", record.Id);
        await db.SaveChangesAsync(CancellationToken.None);
        return DatabaseAccess.From(record, adapter, box.Decrypt(record.PasswordSealed, record.Id));
    }

    /// <summary>Sets <paramref name="pending"/> on the engine and promotes it in the record (if it is still the pending
    /// one); <paramref name="record"/> then carries it. Idempotent, so the reconciler, a reveal, a rotate and the request
    /// that started the rotation may all run it. Throws the engine's exceptions.</summary>
    internal async Task FinishRotationAsync(TenantDatabase record, IEngineAdapter adapter, string pending, CancellationToken ct)
    {
        await adapter.SetPasswordAsync(record.DbUser, box.Decrypt(pending, record.Id), ct);
        await db.Databases.Where(d => d.Id == record.Id && d.PendingPasswordSealed == pending)
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.PasswordSealed, pending)
                .SetProperty(d => d.PendingPasswordSealed, (string?)null).SetProperty(d => d.PendingSince, (DateTime?)null), CancellationToken.None);
        record.PasswordSealed = pending;
        record.PendingPasswordSealed = null;
        record.PendingSince = null;
    }

    /// <summary>Dashboard only. <paramref name="confirmation"/> must be the database's name, typed by the user.</summary>
    public async Task<Outcome<TenantDatabase>> DeleteAsync(string accountId, string id, string? confirmation, Actor actor, CancellationToken ct) =>
        await CountedAsync(accountId, id, "delete", await DeleteOnceAsync(accountId, id, confirmation, actor, ct), d => d.Engine.WireName(), ct);

    /// <summary>Counts an operation on database <paramref name="id"/> (<see cref="Telemetry.DatabaseOperation"/>); its
    /// engine comes from the result, or, for a refusal, from the record if the caller's account has one.</summary>
    private async Task<Outcome<T>> CountedAsync<T>(string accountId, string id, string operation, Outcome<T> outcome, Func<T, string> engineOf, CancellationToken ct)
    {
        var engine = outcome.Ok ? engineOf(outcome.Value!)
            : (await db.Databases.AsNoTracking().Where(d => d.Id == id && d.AccountId == accountId).Select(d => (EngineKind?)d.Engine).FirstOrDefaultAsync(ct))?.WireName() ?? "unknown";
        Counted(id, engine, operation, outcome.Problem);
        return outcome;
    }

    private void Counted(string? databaseId, string engine, string operation, Problem? problem)
    {
        Telemetry.DatabaseOperation(engine, operation, problem);
        if (problem is null) logger.DatabaseOperationDone(databaseId ?? "", engine, operation);
    }

    private async Task<Outcome<TenantDatabase>> DeleteOnceAsync(string accountId, string id, string? confirmation, Actor actor, CancellationToken ct)
    {
        var record = await db.Databases.FirstOrDefaultAsync(d => d.Id == id && d.AccountId == accountId && d.Phase != DatabasePhase.Provisioning, ct);
        if (record is null) return ApiErrors.DatabaseNotFound;
        if (await IsSuspendedAsync(accountId, ct)) return ApiErrors.AccountSuspended;
        if (!string.Equals(confirmation?.Trim(), record.Name, StringComparison.Ordinal))
            return ApiErrors.ConfirmationMismatch(record.Name);
        // The recovery window: the contents are kept as a final backup first; without it the database is not deleted.
        if (record.Phase == DatabasePhase.Ready && await backups.TakeFinalAsync(record, actor, ct) is { } noFinalBackup) return noFinalBackup;
        record.Phase = DatabasePhase.Deleting;
        record.PhaseChangedAt = time.GetUtcNow().UtcDateTime;
        db.Record(time, actor, accountId, "database.deleted", record.Id, $"{record.Engine.WireName()} {record.DbName}");
        await db.SaveChangesAsync(ct);
        try
        {
            await FinishDeleteAsync(record, CancellationToken.None);
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            logger.DropFailed(record.DbName, e.GetType().Name);
            return ApiErrors.EngineUnavailable(record.Engine.WireName(), ApiErrors.Unavailable.Delete);
        }
        // Its size no longer counts: the account may be back under its storage limit.
        await enforcer.EnforceAsync(accountId, CancellationToken.None);
        return record;
    }

    /// <summary>Drops the engine objects (on the server being moved to as well, if a move was cut short), then the
    /// record (in that order, so engine objects never lack a record).</summary>
    internal async Task FinishDeleteAsync(TenantDatabase record, CancellationToken ct)
    {
        await engines.Get(record).DropTenantAsync(record.DbName, record.DbUser, ct);
        if (record.MoveToServerId is { } target) await engines.Get(record.Engine, target).DropTenantAsync(record.DbName, record.DbUser, ct);
        await db.IdempotencyRecords.Where(i => i.DatabaseId == record.Id).ExecuteDeleteAsync(ct);
        await db.Databases.Where(d => d.Id == record.Id).ExecuteDeleteAsync(ct);
    }

    internal static TenantSpec Spec(TenantDatabase record, string password) => new(record.DbName, record.DbUser, password, record.ConnectionLimit);

    /// <summary>What the engine needs to know of a database: its names, its current password and its connection limit.</summary>
    public static TenantSpec SpecOf(TenantDatabase record, SecretBox box) => Spec(record, box.Decrypt(record.PasswordSealed, record.Id));

    /// <summary>What reserving a slot came to: a provisioning record, a refusal, or a request with the same
    /// Idempotency-Key that reserved first (to be replayed).</summary>
    private abstract record Reservation
    {
        public sealed record Made(TenantDatabase Record) : Reservation;
        public sealed record Refused(Problem Problem) : Reservation;
        public sealed record KeyTakenFirst : Reservation;
    }

    private async Task<Reservation> ReserveAsync(string accountId, string name, EngineKind kind, string password,
        string? idempotencyKey, string requestHash, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // Taking the account's write lock first makes the count-then-insert below atomic per account.
        await db.Accounts.Where(a => a.Id == accountId).ExecuteUpdateAsync(s => s.SetProperty(a => a.Revision, a => a.Revision + 1), ct);
        var account = await db.Accounts.AsNoTracking().SingleAsync(a => a.Id == accountId, ct);
        if (account.SuspendedAt is not null) return new Reservation.Refused(ApiErrors.AccountSuspended);
        // A request with the same Idempotency-Key reserved first (it raced past ReplayAsync with us): replay it rather
        // than counting its slot against this retry, which would answer DATABASE_LIMIT_REACHED on a full account.
        if (idempotencyKey is not null && await db.IdempotencyRecords.AnyAsync(
                i => i.AccountId == accountId && i.Key == idempotencyKey && i.CreatedAt > now - IdempotencyWindow, ct))
            return new Reservation.KeyTakenFirst();
        var limits = await AccountService.LimitsAsync(db, tiers.Value, time, account, ct);
        var mine = await db.Databases.Where(d => d.AccountId == accountId).Select(d => new { d.Engine, d.Slot, d.SizeBytes }).ToListAsync(ct);
        if (mine.Count >= limits.Databases) return new Reservation.Refused(ApiErrors.DatabaseLimit(limits.Databases));
        var used = mine.Sum(d => d.SizeBytes);
        if (used >= limits.StorageBytes) return new Reservation.Refused(ApiErrors.StorageQuota(used, limits.StorageBytes));

        var serverId = await Fleet.Placement.ChooseAsync(db, engines, kind, new HashSet<string>(), now, ct);
        if (serverId is null) return new Reservation.Refused(ApiErrors.NoRoom(kind.DisplayName()));

        var taken = mine.Where(d => d.Engine == kind).Select(d => d.Slot).ToHashSet();
        var slot = Enumerable.Range(1, int.MaxValue - 1).First(n => !taken.Contains(n));
        var id = Ulid.New(time);
        var record = new TenantDatabase
        {
            Id = id,
            AccountId = accountId,
            Name = name,
            Engine = kind,
            ServerId = serverId,
            Slot = slot,
            DbName = TenantNames.DatabaseName(kind, account.Slug, slot),
            DbUser = TenantNames.UserName(kind, account.Slug, slot),
            PasswordSealed = box.Encrypt(password, id),
            Status = DatabaseStatus.Active,
            Phase = DatabasePhase.Provisioning,
            PhaseChangedAt = now,
            ConnectionLimit = limits.ConnectionsPerUser,
            CreatedAt = now,
        };
        db.Databases.Add(record);
        if (idempotencyKey is not null)
        {
            await db.IdempotencyRecords.Where(i => i.AccountId == accountId && i.Key == idempotencyKey).ExecuteDeleteAsync(ct); // expired (live ones were replayed)
            db.IdempotencyRecords.Add(new IdempotencyRecord { AccountId = accountId, Key = idempotencyKey, RequestHash = requestHash, DatabaseId = id, CreatedAt = now });
        }
        try
        {
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }
        catch (DbUpdateException) when (idempotencyKey is not null)
        {
            db.ChangeTracker.Clear();
            return new Reservation.KeyTakenFirst();
        }
        return new Reservation.Made(record);
    }

    /// <summary>Replays an earlier create with the same Idempotency-Key: the same database, rendered again with its
    /// current password (responses are never stored, they carry a password). Null when there is nothing to replay.</summary>
    private async Task<Outcome<DatabaseAccess>?> ReplayAsync(string accountId, string key, string requestHash, CancellationToken ct)
    {
        var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(30);
        while (true)
        {
            var since = time.GetUtcNow().UtcDateTime - IdempotencyWindow;
            var earlier = await db.IdempotencyRecords.AsNoTracking()
                .FirstOrDefaultAsync(i => i.AccountId == accountId && i.Key == key && i.CreatedAt > since, ct);
            if (earlier is null) return null;
            if (earlier.RequestHash != requestHash) return ApiErrors.IdempotencyKeyReused;
            var record = await db.Databases.AsNoTracking().FirstOrDefaultAsync(d => d.Id == earlier.DatabaseId, ct);
            if (record is { Phase: DatabasePhase.Ready } && TryAdapter(record, out var adapter))
                return DatabaseAccess.From(record, adapter, box.Decrypt(record.PasswordSealed, record.Id));
            // Without a database the original create was undone (its key goes with it) and this is a first request.
            if (record is null) return null;
            if (record.Phase == DatabasePhase.Deleting) return ApiErrors.IdempotencyKeyOfDeletedDatabase;
            if (time.GetUtcNow() > deadline) return ApiErrors.StillProvisioning(record.Engine.DisplayName());
            await Task.Delay(100, ct); // the original request is still provisioning
        }
    }

    private async Task UndoReservationAsync(TenantDatabase record, IEngineAdapter adapter, bool nothingCreated)
    {
        try
        {
            if (!nothingCreated) await adapter.DropTenantAsync(record.DbName, record.DbUser, CancellationToken.None);
            await db.IdempotencyRecords.Where(i => i.DatabaseId == record.Id).ExecuteDeleteAsync(CancellationToken.None);
            await db.Databases.Where(d => d.Id == record.Id).ExecuteDeleteAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            logger.UndoFailed(record.DbName, e.GetType().Name);
        }
    }

    /// <summary>Writes <paramref name="ours"/> as the pending password, or returns the one already pending (another
    /// rotation's). Null only if the record keeps changing under us.</summary>
    private async Task<string?> ClaimRotationAsync(string id, string ours, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var now = time.GetUtcNow().UtcDateTime;
            if (await db.Databases.Where(d => d.Id == id && d.PendingPasswordSealed == null)
                    .ExecuteUpdateAsync(s => s.SetProperty(d => d.PendingPasswordSealed, ours).SetProperty(d => d.PendingSince, now), ct) == 1)
                return ours;
            var theirs = await db.Databases.Where(d => d.Id == id).Select(d => d.PendingPasswordSealed).FirstOrDefaultAsync(ct);
            if (theirs is not null) return theirs; // else it was promoted in between: claim again
        }
        return null;
    }

    private Task<TenantDatabase?> FindReadyAsync(string accountId, string id, CancellationToken ct) =>
        db.Databases.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id && d.AccountId == accountId && d.Phase == DatabasePhase.Ready, ct);

    private Task<bool> IsSuspendedAsync(string accountId, CancellationToken ct) =>
        db.Accounts.AnyAsync(a => a.Id == accountId && a.SuspendedAt != null, ct);

    private bool TryAdapter(TenantDatabase record, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IEngineAdapter? adapter)
    {
        adapter = engines.For(record);
        return adapter is not null;
    }
}
