using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Multicast.Sessions;

/// <summary>
/// The committed sessions one node holds, by id. The cluster store writes it (a whole <see cref="SessionState"/> at a
/// time, so readers never see half a change); the manager, requests and diagnostics read it. Safe for concurrent use.
/// </summary>
public sealed class SessionTable : IEnumerable<SessionState>
{
    private readonly ConcurrentDictionary<string, SessionState> _states = new(StringComparer.Ordinal);

    /// <summary>How many sessions the table holds.</summary>
    public int Count => _states.Count;

    /// <summary>The session's committed state, when the table holds it.</summary>
    public bool TryGet(string id, [NotNullWhen(true)] out SessionState? state) => _states.TryGetValue(id, out state);

    /// <summary>The session's committed state, or <see langword="null"/>.</summary>
    public SessionState? Get(string id) => _states.GetValueOrDefault(id);

    /// <summary>Whether the table holds the session.</summary>
    public bool Contains(string id) => _states.ContainsKey(id);

    /// <summary>Publishes a session's new committed state (replacing what the table held).</summary>
    public void Set(SessionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        _states[state.Id] = state;
    }

    /// <summary>Publishes <paramref name="state"/> only if the table still holds <paramref name="expected"/> for it.</summary>
    public bool TrySet(SessionState state, SessionState expected)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(expected);
        return _states.TryUpdate(state.Id, state, expected);
    }

    /// <summary>Takes a session out of the table.</summary>
    /// <returns>Whether the table held it.</returns>
    public bool Remove(string id) => _states.TryRemove(id, out _);

    /// <summary>Enumerates the states without locking: a state published or removed meanwhile may or may not be seen.</summary>
    public IEnumerator<SessionState> GetEnumerator() => _states.Values.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
