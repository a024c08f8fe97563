using HepDb.Engines.Mongo;
using HepDb.Hosting;

// In HepDb.Engines, like the MariaDB and PostgreSQL factories, so ServiceSetup registers it without another using.
namespace HepDb.Engines;

/// <summary>Registered next to the MariaDB and PostgreSQL factories. Each adapter owns its server's MongoClient, which
/// EngineRegistry disposes with the adapter.</summary>
public sealed class MongoAdapterFactory : IEngineAdapterFactory
{
    public EngineKind Kind => EngineKind.Mongo;

    public IEngineAdapter Create(EngineServerOptions server) => new MongoAdapter(server);
}
