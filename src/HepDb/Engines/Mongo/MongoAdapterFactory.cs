using HepDb.Engines.Mongo;
using HepDb.Hosting;
using Microsoft.Extensions.Logging;

// In HepDb.Engines, like the MariaDB and PostgreSQL factories, so ServiceSetup registers it without another using.
namespace HepDb.Engines;

/// <summary>Registered next to the MariaDB and PostgreSQL factories. Also points libmongoc's process-wide log handler at
/// the host's logging, so the C driver never writes to stderr directly.</summary>
public sealed class MongoAdapterFactory(ILoggerFactory loggerFactory) : IEngineAdapterFactory
{
    public EngineKind Kind => EngineKind.Mongo;

    public IEngineAdapter Create(EngineServerOptions server)
    {
        MongoNative.Log = loggerFactory.CreateLogger("HepDb.Engines.Mongo.libmongoc");
        return new MongoAdapter(server);
    }
}
