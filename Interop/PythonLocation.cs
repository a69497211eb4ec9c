namespace Bridge.Interop;

/// <summary>The CPython installation <see cref="PythonLocator"/> chose.</summary>
/// <param name="LibraryPath">The shared libpython to load.</param>
/// <param name="Executable">The real executable: <c>sys.executable</c> of the probed Python, or <c>&lt;home&gt;/bin/pythonX.Y</c> beside a bare library when it exists, else null.</param>
/// <param name="Version">"major.minor" from the probe or the library's file name, else null.</param>
/// <param name="Prefix"><c>sys.prefix</c> of the probed executable (a venv's directory inside a venv).</param>
/// <param name="BasePrefix"><c>sys.base_prefix</c> of the probed executable (for a bare library: the ancestor holding <c>lib/pythonX.Y</c>); used as PYTHONHOME.</param>
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
