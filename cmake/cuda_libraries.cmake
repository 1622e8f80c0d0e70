# Finds the CUDA libraries that the toolkit does not ship (cuDNN, NCCL), each
# with its header from the same root, so the two always belong together.
#
# Roots, in this order:
#  1. The CUDA pip wheels (nvidia-cudnn-cu13, nvidia-nccl-cu13, ...) that PyTorch
#     installs: site-packages/nvidia/<package>/{include,lib}. They hold only the
#     versioned library (libcudnn.so.9, libnccl.so.2), never libcudnn.so.
#     BMST_NVIDIA_WHEELS names that `nvidia` folder; left empty, python3 is asked
#     where its `nvidia` package lives.
#  2. The toolkit (BMST_CUDA_ROOT, then where CMake found the CUDA runtime).
#  3. The system's folders, where NVIDIA's Debian packages install them.
#
# bmst_find_cuda_library(VAR NAME HEADER SOVERSION) sets the cache entries VAR
# (the library file) and VAR_INCLUDE_DIR, or VAR to VAR-NOTFOUND; set either on
# the command line to choose by hand.

set(BMST_NVIDIA_WHEELS "" CACHE PATH
    "The nvidia folder of the CUDA pip wheels (site-packages/nvidia); empty: ask python3")
if(NOT BMST_NVIDIA_WHEELS)
  find_program(BMST_PYTHON3 python3)
  if(BMST_PYTHON3)
    # a namespace package: it may span several site-packages folders
    execute_process(
      COMMAND ${BMST_PYTHON3} -c "import nvidia; print(';'.join(nvidia.__path__))"
      OUTPUT_VARIABLE bmst_discovered_wheels OUTPUT_STRIP_TRAILING_WHITESPACE
      ERROR_QUIET)
  endif()
endif()

function(bmst_find_cuda_library var name header soversion)
  if(${var} AND ${var}_INCLUDE_DIR)
    return() # found by an earlier configure, or given by hand
  endif()
  # (include folder, library folder) pairs
  set(pairs "")
  foreach(wheels ${BMST_NVIDIA_WHEELS} ${bmst_discovered_wheels})
    file(GLOB packages LIST_DIRECTORIES true "${wheels}/*")
    foreach(p ${packages})
      list(APPEND pairs "${p}/include|${p}/lib")
    endforeach()
  endforeach()
  list(APPEND pairs "${BMST_CUDA_ROOT}/include|${BMST_CUDA_ROOT}/lib64")
  foreach(inc ${CUDAToolkit_INCLUDE_DIRS})
    list(APPEND pairs "${inc}|${CUDAToolkit_LIBRARY_DIR}")
  endforeach()
  list(APPEND pairs "/usr/include|/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}"
       "/usr/include/${CMAKE_LIBRARY_ARCHITECTURE}|/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}")
  foreach(pair ${pairs})
    string(REPLACE "|" ";" parts "${pair}")
    list(GET parts 0 inc)
    list(GET parts 1 lib)
    if(NOT EXISTS "${inc}/${header}")
      continue()
    endif()
    foreach(file lib${name}.so lib${name}.so.${soversion})
      if(EXISTS "${lib}/${file}")
        set(${var} "${lib}/${file}" CACHE FILEPATH "lib${name}" FORCE)
        set(${var}_INCLUDE_DIR "${inc}" CACHE PATH "${header}" FORCE)
        message(STATUS "${name}: ${lib}/${file} (${header} in ${inc})")
        return()
      endif()
    endforeach()
  endforeach()
  set(${var} "${var}-NOTFOUND" CACHE FILEPATH "lib${name}" FORCE)
endfunction()
