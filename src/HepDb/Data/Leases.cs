using HepDb.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace HepDb.Data;

/// <summary>A named lease in the metadata store. Replicas sharing one store take the lease before background work,
/// so the work is done by one replica at a time; a crashed holder's lease simply expires.</summary>
public sealed class Lease
{
    public required string Name { get; init; }
    public required string Holder { get; set; }
    public DateTime ExpiresAt { get; set; }
}

/// <summary>The <c>leases</c> table.</summary>
public sealed class LeaseConfiguration : IEntityTypeConfiguration<Lease>
{
    public void Configure(EntityTypeBuilder<Lease> e)
    {
        e.ToTable("leases");
        e.HasKey(x => x.Name);
        e.Property(x => x.Name).HasMaxLength(64);
        e.Property(x => x.Holder).HasMaxLength(64);
    }
}

/// <summary>This HepDb instance's identity as a lease holder (one per running server, so replicas differ).</summary>
public sealed class InstanceIdentity
{
    public string Id { get; } = $"{Environment.MachineName}/{Environment.ProcessId}/{Ulid.New()[^8..]}";

    /// <summary>Whether the instance that wrote <paramref name="holder"/> (an <see cref="Id"/>, perhaps with a suffix) is
    /// known to have ended: it ran on this machine, in another process, and that process is gone.</summary>
    public static bool IsGone(string holder)
    {
        var parts = holder.Split('/');
        return parts.Length >= 3 && parts[0] == Environment.MachineName && int.TryParse(parts[1], out var pid)
               && pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}");
    }
}

public static class Leases
{
    /// <summary>Takes or renews the lease when it is free, expired or already <paramref name="holder"/>'s. One conditional
    /// UPDATE (or the first INSERT) decides, so two replicas can never both succeed.</summary>
    public static async Task<bool> TryAcquireAsync(HepDbContext db, string name, string holder, TimeSpan ttl, TimeProvider time, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var until = now + ttl;
        var updated = await db.Leases.Where(l => l.Name == name && (l.ExpiresAt < now || l.Holder == holder))
            .ExecuteUpdateAsync(s => s.SetProperty(l => l.Holder, holder).SetProperty(l => l.ExpiresAt, until), ct);
        if (updated == 1) return true;
        if (await db.Leases.AnyAsync(l => l.Name == name, ct)) return false;
        try
        {
            db.Leases.Add(new Lease { Name = name, Holder = holder, ExpiresAt = until });
            await db.SaveChangesAsync(ct);
            return true;
        }
        catch (DbUpdateException)
        {
            db.ChangeTracker.Clear();
            return false;
        }
    }
}
