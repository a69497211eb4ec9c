namespace Bridge.Interop;

/// <summary>The CPython installation <see cref="PythonLocator"/> chose.</summary>
/// <param name="LibraryPath">The shared libpython to load.</param>
/// <param name="Executable">The real executable (<c>sys.executable</c> of the probed Python), or null when only a library was given.</param>
/// <param name="Version">"major.minor" when known from the probe, else null.</param>
/// <param name="Prefix"><c>sys.prefix</c> of the probed executable (a venv's directory inside a venv).</param>
/// <param name="BasePrefix"><c>sys.base_prefix</c> of the probed executable: the installation's home.</param>
/// <param name="SysPath">The probed executable's <c>sys.path</c>, applied to the embedded interpreter after start-up.</param>
/// <param name="Source">Which rule picked it (for diagnostics): "options", "PYTHONNET_PYDLL", "DOTBRIDGE_PYTHON", "python3", ...</param>
public sealed record PythonLocation(
    string LibraryPath,
    string? Executable,
    string? Version,
    string? Prefix,
    string? BasePrefix,
    IReadOnlyList<string> SysPath,
    string Source);
