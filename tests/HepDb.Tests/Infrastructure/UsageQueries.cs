using HepDb.Data;
using HepDb.Usage;

namespace HepDb.Tests.Infrastructure;

public static class UsageQueries
{
    /// <summary>One database's usage samples, every resolution (the rows carry its series key, not its id).</summary>
    public static IQueryable<UsageSample> SamplesOf(this HepDbContext db, string databaseId) =>
        db.UsageSamples.Where(s => db.UsageSeries.Where(k => k.DatabaseId == databaseId).Select(k => k.Key).Contains(s.Series));
}
