namespace Bridge.Compiler;

/// <summary>A public type of a compiled kernel assembly and its callable methods.</summary>
/// <param name="Name">The reflection name (<c>Namespace.Type</c>, nested types as <c>Outer+Inner</c>).</param>
/// <param name="Methods">Names of its public, static, non-generic methods (each name once, overloads merged).</param>
/// <remarks>Immutable; thread-safe.</remarks>
public sealed record KernelType(string Name, IReadOnlyList<string> Methods);
