from .clip_teacher import CLIPTeacher, build_clip_visual, load_clip_visual_state_dict

__all__ = ['CLIPTeacher', 'build_clip_visual', 'load_clip_visual_state_dict']
