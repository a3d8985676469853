using Npgsql;
using NpgsqlTypes;

namespace Multicast.Bench.SessionCost;

/// <summary>
/// The classic database-backed session store: one row per session (attributes as one blob); a write request is
/// one transaction of SELECT ... FOR UPDATE and UPDATE; a read-only request is one SELECT.
/// </summary>
internal sealed class PostgresBackend(NpgsqlDataSource dataSource) : ISessionBackend
{
    public const string Schema = """
        CREATE TABLE IF NOT EXISTS sessions (
            id text PRIMARY KEY,
            data bytea NOT NULL,
            version bigint NOT NULL,
            last_access timestamptz NOT NULL DEFAULT now());
        """;

    public string Name => "postgres";

    public async Task EnsureSchemaAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(Schema);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<string> CreateAsync(byte[] payload, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid().ToString("N");
        var data = SessionCodec.Encode(new Dictionary<string, byte[]> { ["data"] = payload, ["count"] = SessionCodec.CountValue(0) });
        await using var command = dataSource.CreateCommand("INSERT INTO sessions (id, data, version) VALUES ($1, $2, 1)");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = data, NpgsqlDbType = NpgsqlDbType.Bytea });
        await command.ExecuteNonQueryAsync(cancellationToken);
        return id;
    }

    public async Task<int> IncrementAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        byte[] blob;
        await using (var select = new NpgsqlCommand("SELECT data FROM sessions WHERE id = $1 FOR UPDATE", connection, transaction))
        {
            select.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
            blob = (byte[]?)await select.ExecuteScalarAsync(cancellationToken) ?? throw new InvalidOperationException($"no session {id}");
        }
        var attributes = SessionCodec.Decode(blob);
        var next = SessionCodec.ReadCount(attributes) + 1;
        attributes["count"] = SessionCodec.CountValue(next);
        await using (var update = new NpgsqlCommand("UPDATE sessions SET data = $2, version = version + 1, last_access = now() WHERE id = $1", connection, transaction))
        {
            update.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
            update.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = SessionCodec.Encode(attributes), NpgsqlDbType = NpgsqlDbType.Bytea });
            await update.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return next;
    }

    public async Task<int> ReadAsync(string id, CancellationToken cancellationToken)
    {
        await using var select = dataSource.CreateCommand("SELECT data FROM sessions WHERE id = $1");
        select.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
        var blob = (byte[]?)await select.ExecuteScalarAsync(cancellationToken) ?? throw new InvalidOperationException($"no session {id}");
        return SessionCodec.ReadCount(SessionCodec.Decode(blob));
    }
}
