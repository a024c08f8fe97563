namespace HepDb.Tests.Infrastructure;

/// <summary>
/// Tests that assert a time bound belonging to the product (a create ending at the engine's connect timeout). xUnit runs
/// a collection whose parallelization is disabled on its own, after every parallel collection has finished, so the bound
/// measures HepDb and not the rest of the suite competing for the same cores (CI machines are often busier than ours).
/// Keep it small: everything here adds to the suite's wall-clock time.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "timing-sensitive";
}
